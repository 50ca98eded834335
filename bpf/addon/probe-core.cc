#include "probe-core.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <net/if.h>
#include <sstream>
#include <unistd.h>

namespace {

// The kernel in linux-libc-dev may predate TCX; these values are fixed by the kernel ABI.
constexpr int kTcxIngress = 46;
constexpr int kTcxEgress = 47;
// cls_bpf fallback: a fixed handle and priority, so a filter left behind by a killed process is replaced.
constexpr uint32_t kTcHandle = 0x4c42;
constexpr uint32_t kTcPriority = 0x4c42;

// libbpf reports through a global print callback; keep what it says while we load, for error messages.
std::string g_libbpfLog;
int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n > 0) g_libbpfLog.append(buf, std::min<size_t>(n, sizeof(buf) - 1));
  if (g_libbpfLog.size() > (1u << 20)) g_libbpfLog.erase(0, g_libbpfLog.size() - (1u << 19));
  return 0;
}
struct PrintHookInstaller {
  PrintHookInstaller() { libbpf_set_print(libbpfPrint); }
} g_printHook;

std::string lastLines(const std::string& text, size_t count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  size_t from = lines.size() > count ? lines.size() - count : 0;
  std::string out;
  for (size_t i = from; i < lines.size(); i++) out += "  " + lines[i] + "\n";
  return out;
}

std::string baseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

[[noreturn]] void throwPermission(const std::string& what, int err) {
  throw ProbeError("permission", what + " was refused by the kernel (" + std::string(strerror(err)) +
                                     "): the eBPF probe needs root, or the capabilities CAP_BPF, CAP_PERFMON and "
                                     "CAP_NET_ADMIN; this process runs as uid " + std::to_string(geteuid()));
}

// Translate a failed bpf_object__load into one clear sentence.
[[noreturn]] void throwLoadError(const std::string& path, int err, const std::string& log) {
  const std::string file = baseName(path);
  size_t begin = log.rfind("-- BEGIN PROG LOAD LOG --");
  if (begin != std::string::npos) {
    size_t end = log.find("-- END PROG LOAD LOG --", begin);
    std::string verifier = log.substr(begin + 25, end == std::string::npos ? std::string::npos : end - begin - 25);
    std::string prog;
    size_t q = log.rfind("prog '", begin);
    if (q != std::string::npos) prog = log.substr(q + 6, log.find('\'', q + 6) - q - 6);
    throw ProbeError("verifier", "the kernel's verifier rejected the BPF program '" + prog + "' in " + file +
                                     " (" + strerror(err) + "); the last lines of the verifier log:\n" +
                                     lastLines(verifier, 12));
  }
  if (err == EPERM || err == EACCES) throwPermission("loading " + file, err);
  if (log.find("BTF") != std::string::npos && (log.find("failed to parse target BTF") != std::string::npos ||
                                                log.find("failed to find valid kernel BTF") != std::string::npos)) {
    throw ProbeError("missing_dependency",
                     "the kernel's BTF type information could not be read while loading " + file +
                         ": lookback needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n" + lastLines(log, 6));
  }
  throw ProbeError("internal", "loading " + file + " failed (" + strerror(err) + "); libbpf said:\n" +
                                   lastLines(log, 12));
}

// Whether the kernel's BTF lists bpf_cast_to_kern_ctx (a kfunc lb_tc calls). Parsing the BTF takes ~15 ms:
// remember the answer per path (probes are opened on the main thread only).
bool kernelHasCastToKernCtx(const std::string& btfPath) {
  static std::string checkedPath;
  static bool found = false;
  if (checkedPath != btfPath) {
    btf* b = btf__parse(btfPath.c_str(), nullptr);
    found = b && btf__find_by_name_kind(b, "bpf_cast_to_kern_ctx", BTF_KIND_FUNC) > 0;
    if (b) btf__free(b);
    checkedPath = btfPath;
  }
  return found;
}

int infoOf(int fd, bpf_prog_info* info) {
  __u32 len = sizeof(*info);
  memset(info, 0, sizeof(*info));
  return bpf_obj_get_info_by_fd(fd, info, &len);
}

}  // namespace

ProbeCore::ProbeCore(const ProbeOptions& opts) : flowCapacity_(opts.flowCapacity) {
  if (access(opts.btfPath.c_str(), R_OK) != 0) {
    throw ProbeError("missing_dependency",
                     "the kernel's BTF type information was not found at " + opts.btfPath +
                         ": lookback needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (which provides "
                         "/sys/kernel/btf/vmlinux)");
  }
  int n = libbpf_num_possible_cpus();
  ncpus_ = n > 0 ? n : 1;
  try {
    for (const auto& spec : opts.objects) loadObject(spec, opts);
  } catch (...) {
    close();
    throw;
  }
}

ProbeCore::~ProbeCore() { close(); }

void ProbeCore::loadObject(const ObjectSpec& spec, const ProbeOptions& opts, bool withShared) {
  if (access(spec.path.c_str(), R_OK) != 0) {
    throw ProbeError("missing_dependency", "the BPF object " + spec.path +
                                               " is missing: build it with `bash scripts/setup-bpf.sh` (part of "
                                               "`npm run setup`)");
  }
  bpf_object_open_opts oo;
  memset(&oo, 0, sizeof(oo));
  oo.sz = sizeof(oo);
  oo.btf_custom_path = opts.btfPath.c_str();
  g_libbpfLog.clear();
  bpf_object* obj = bpf_object__open_file(spec.path.c_str(), &oo);
  if (!obj) {
    int err = errno;
    throw ProbeError("internal", "opening " + spec.path + " failed (" + strerror(err) + "):\n" +
                                     lastLines(g_libbpfLog, 8));
  }
  objects_.push_back({spec.role, spec.path, obj});

  bpf_map* cfg = bpf_object__find_map_by_name(obj, ".rodata.lbcfg");
  if (!cfg) throw ProbeError("internal", spec.path + " has no .rodata.lbcfg section: rebuild the BPF objects");
  if (bpf_map__set_initial_value(cfg, &opts.config, sizeof(opts.config)) != 0) {
    throw ProbeError("internal", spec.path + ": the configuration layout does not match records.h: rebuild");
  }

  // The first object creates the shared maps, the others reuse them.
  struct Shared {
    const char* name;
    int* fd;
  } shared[] = {{"lb_events", &ringFd_}, {"lb_counters", &countersFd_}, {"lb_global", &globalFd_}};
  for (auto& s : shared) {
    bpf_map* m = bpf_object__find_map_by_name(obj, s.name);
    if (!m) throw ProbeError("internal", spec.path + " lacks the map " + s.name);
    if (*s.fd >= 0) {
      if (bpf_map__reuse_fd(m, *s.fd) != 0) throw ProbeError("internal", std::string("reusing map ") + s.name + " failed");
    } else if (std::strcmp(s.name, "lb_events") == 0) {
      bpf_map__set_max_entries(m, opts.ringBytes);
    }
  }
  if (bpf_map* flows = bpf_object__find_map_by_name(obj, "lb_flows")) bpf_map__set_max_entries(flows, opts.flowCapacity);
  // lb_tc finds its direction through the bpf_cast_to_kern_ctx kfunc (Linux 6.2+); without it, leave it unloaded
  // and attach the per-direction programs everywhere.
  bpf_program* bothWays = spec.role == "flow" ? bpf_object__find_program_by_name(obj, "lb_tc") : nullptr;
  if (bothWays && (!withShared || !kernelHasCastToKernCtx(opts.btfPath))) {
    bpf_program__set_autoload(bothWays, false);
    bothWays = nullptr;
  }

  g_libbpfLog.clear();
  int err = bpf_object__load(obj);
  if (err && bothWays) {
    // lb_tc is verified only on the kernels we test; another kernel's verifier may refuse it while it takes the
    // per-direction programs. libbpf cannot load an object twice: open it again without lb_tc.
    bpf_object__close(obj);
    objects_.pop_back();
    loadObject(spec, opts, false);
    return;
  }
  if (err) throwLoadError(spec.path, -err, g_libbpfLog);

  for (auto& s : shared)
    if (*s.fd < 0) *s.fd = bpf_map__fd(bpf_object__find_map_by_name(obj, s.name));
  if (bpf_map* flows = bpf_object__find_map_by_name(obj, "lb_flows")) flowsFd_ = bpf_map__fd(flows);
  if (spec.role == "bench") benchProg_ = bpf_object__find_program_by_name(obj, "lb_bench_emit");
  if (bothWays) sharedFlowProg_ = bothWays;
  if (spec.role == "drop" || spec.role == "tcp") attachTracing(objects_.back());
}

void ProbeCore::attachTracing(const Loaded& l) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, l.obj) {
    g_libbpfLog.clear();
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int err = errno;
      if (err == EPERM || err == EACCES) throwPermission("attaching " + std::string(bpf_program__name(prog)), err);
      throw ProbeError("internal", "attaching the tracing program " + std::string(bpf_program__name(prog)) + " from " +
                                       baseName(l.path) + " failed (" + strerror(err) + "):\n" +
                                       lastLines(g_libbpfLog, 6));
    }
    // The link lives as long as its fd, which the kernel closes if this process dies.
    tracingLinks_.push_back(link);
  }
}

bpf_program* ProbeCore::flowProgram(bool egress, bool tcx) const {
  if (tcx && sharedFlowProg_) return sharedFlowProg_;
  for (const auto& l : objects_)
    if (l.role == "flow") return bpf_object__find_program_by_name(l.obj, egress ? "lb_tc_egress" : "lb_tc_ingress");
  return nullptr;
}

const Attachment& ProbeCore::attach(const std::string& ifname, bool egress, const std::string& mode) {
  int ifindex = int(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) {
    throw ProbeError("not_found", "the network interface '" + ifname +
                                      "' was not found in this network namespace (see `ip link show`)");
  }
  for (const auto& a : attachments_)
    if (a.ifindex == ifindex && a.egress == egress) return a;
  bpf_program* prog = flowProgram(egress, false);
  if (!prog) throw ProbeError("invalid_argument", "the probe was opened without flow capture, so it cannot attach");
  const char* dir = egress ? "egress" : "ingress";

  Attachment a;
  a.ifname = ifname;
  a.ifindex = ifindex;
  a.egress = egress;
  bpf_prog_info info;

  if (mode != "tc") {
    int tcxFd = bpf_program__fd(flowProgram(egress, true));
    if (infoOf(tcxFd, &info) == 0) a.progId = info.id;
    int fd = bpf_link_create(tcxFd, ifindex, bpf_attach_type(egress ? kTcxEgress : kTcxIngress), nullptr);
    if (fd >= 0) {
      a.mode = "tcx";
      a.linkFd = fd;
      bpf_link_info li;
      __u32 len = sizeof(li);
      memset(&li, 0, sizeof(li));
      if (bpf_obj_get_info_by_fd(fd, &li, &len) == 0) a.linkId = li.id;
      attachments_.push_back(a);
      return attachments_.back();
    }
    int err = -fd;
    if (err == EPERM || err == EACCES) throwPermission(std::string("attaching to ") + ifname + " " + dir, err);
    if (mode == "tcx") {
      throw ProbeError("internal", "attaching a TCX link to " + ifname + " " + dir + " failed (" + strerror(err) +
                                       "): TCX needs Linux 6.6 or later; use the attach mode 'tc' or 'auto'");
    }
  }

  int progFd = bpf_program__fd(prog);
  if (infoOf(progFd, &info) == 0) a.progId = info.id;
  bpf_tc_hook hook;
  memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) {
    if (-err == EPERM) throwPermission(std::string("creating the clsact qdisc on ") + ifname, EPERM);
    throw ProbeError("internal", "creating the clsact qdisc on " + ifname + " failed (" + strerror(-err) + ")");
  }
  bpf_tc_opts o;
  memset(&o, 0, sizeof(o));
  o.sz = sizeof(o);
  o.handle = kTcHandle;
  o.priority = kTcPriority;
  o.prog_fd = progFd;
  o.flags = BPF_TC_F_REPLACE;
  err = bpf_tc_attach(&hook, &o);
  if (err) {
    if (-err == EPERM) throwPermission(std::string("attaching to ") + ifname, EPERM);
    throw ProbeError("internal", "attaching the cls_bpf filter to " + ifname + " " + dir + " failed (" +
                                     strerror(-err) + ")");
  }
  a.mode = "tc";
  attachments_.push_back(a);
  return attachments_.back();
}

bool ProbeCore::detach(const std::string& ifname, bool egress) {
  for (auto it = attachments_.begin(); it != attachments_.end(); ++it) {
    if (it->ifname != ifname || it->egress != egress) continue;
    if (it->mode == "tcx") {
      ::close(it->linkFd);
    } else {
      bpf_tc_hook hook;
      memset(&hook, 0, sizeof(hook));
      hook.sz = sizeof(hook);
      hook.ifindex = it->ifindex;
      hook.attach_point = it->egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
      bpf_tc_opts o;
      memset(&o, 0, sizeof(o));
      o.sz = sizeof(o);
      o.handle = kTcHandle;
      o.priority = kTcPriority;
      bpf_tc_detach(&hook, &o);  // fails harmlessly when the interface is already gone
    }
    attachments_.erase(it);
    return true;
  }
  return false;
}

void ProbeCore::close() {
  while (!attachments_.empty()) {
    Attachment a = attachments_.back();
    detach(a.ifname, a.egress);
  }
  for (bpf_link* link : tracingLinks_) bpf_link__destroy(link);
  tracingLinks_.clear();
  for (auto& l : objects_) bpf_object__close(l.obj);
  objects_.clear();
  ringFd_ = countersFd_ = globalFd_ = flowsFd_ = -1;
  benchProg_ = nullptr;
  sharedFlowProg_ = nullptr;
}

std::vector<uint64_t> ProbeCore::counters() const {
  std::vector<uint64_t> out(LB_CTR_MAX, 0);
  if (countersFd_ < 0) return out;
  std::vector<uint64_t> perCpu(ncpus_);
  for (uint32_t k = 0; k < LB_CTR_MAX; k++) {
    if (bpf_map_lookup_elem(countersFd_, &k, perCpu.data()) != 0) continue;
    for (uint64_t v : perCpu) out[k] += v;
  }
  return out;
}

uint64_t ProbeCore::ringFullTotal() const {
  if (countersFd_ < 0) return 0;
  std::vector<uint64_t> perCpu(ncpus_);
  uint64_t total = 0;
  for (uint32_t k = LB_CTR_RING_FULL_FLOW; k <= LB_CTR_RING_FULL_OTHER; k++) {
    if (bpf_map_lookup_elem(countersFd_, &k, perCpu.data()) != 0) continue;
    for (uint64_t v : perCpu) total += v;
  }
  return total;
}

std::vector<ProgramStat> ProbeCore::programStats() const {
  std::vector<ProgramStat> out;
  for (const auto& l : objects_) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, l.obj) {
      bpf_prog_info info;
      if (infoOf(bpf_program__fd(prog), &info) != 0) continue;
      out.push_back({bpf_program__name(prog), info.id, info.run_time_ns, info.run_cnt});
    }
  }
  return out;
}

namespace {
uint64_t lastSeen(const lb_flow_val& v) {
  uint64_t last = std::max(v.dir[0].last_ns, v.dir[1].last_ns);
  return last ? last : v.first_ns;
}

lb_flow_rec finalRecord(const lb_flow_key& k, const lb_flow_val& v, uint32_t events, uint64_t now) {
  lb_flow_rec r;
  memset(&r, 0, sizeof(r));
  r.hdr.kind = LB_REC_FLOW;
  r.hdr.size = sizeof(r);
  r.hdr.ifindex = v.ifindex;
  r.hdr.time_ns = now;
  const bool hi = v.init_is_hi != 0;
  memcpy(r.tuple.src, hi ? k.hi_addr : k.lo_addr, 16);
  memcpy(r.tuple.dst, hi ? k.lo_addr : k.hi_addr, 16);
  r.tuple.sport = hi ? k.hi_port : k.lo_port;
  r.tuple.dport = hi ? k.lo_port : k.hi_port;
  r.tuple.family = k.family;
  r.tuple.proto = k.proto;
  r.first_ns = v.first_ns;
  r.last_ns = lastSeen(v);
  r.bytes[0] = v.dir[0].bytes;
  r.bytes[1] = v.dir[1].bytes;
  r.packets[0] = v.dir[0].packets;
  r.packets[1] = v.dir[1].packets;
  r.events = events;
  r.tcp_flags[0] = v.tcp_flags & 0xff;
  r.tcp_flags[1] = (v.tcp_flags >> 8) & 0xff;
  r.icmp_type = v.icmp_type;
  r.icmp_code = v.icmp_code;
  r.orig_egress = v.orig_egress;
  return r;
}
}  // namespace

SweepResult ProbeCore::sweep(uint64_t idleNs, uint64_t closedIdleNs, bool flushAll, const RecordSink& sink) {
  SweepResult res;
  if (flowsFd_ < 0) return res;
  const uint64_t now = monotonicNs();
  const uint32_t chunk = 4096;
  std::vector<lb_flow_key> keys(chunk);
  std::vector<lb_flow_val> vals(chunk);
  std::vector<lb_flow_key> victims;
  std::vector<lb_flow_val> victimVals;
  lb_flow_key inBatch, outBatch;  // opaque cursors; a key is larger than any cursor the kernel uses
  bool first = true;
  bpf_map_batch_opts bo;
  memset(&bo, 0, sizeof(bo));
  bo.sz = sizeof(bo);

  for (;;) {
    __u32 count = chunk;
    int err = flushAll ? bpf_map_lookup_and_delete_batch(flowsFd_, first ? nullptr : &inBatch, &outBatch, keys.data(),
                                                         vals.data(), &count, &bo)
                       : bpf_map_lookup_batch(flowsFd_, first ? nullptr : &inBatch, &outBatch, keys.data(),
                                              vals.data(), &count, &bo);
    if (err && err != -ENOENT) {
      throw ProbeError("internal", std::string("reading the flow table failed (") + strerror(-err) + ")");
    }
    for (__u32 i = 0; i < count; i++) {
      res.entries++;
      const lb_flow_val& v = vals[i];
      if (flushAll) {
        lb_flow_rec r = finalRecord(keys[i], v, LB_FLOW_END_FLUSH, now);
        sink(&r, sizeof(r));
        res.removed++;
        continue;
      }
      const uint64_t last = lastSeen(v);
      const uint64_t idle = now > last ? now - last : 0;
      const uint32_t f = v.tcp_flags;
      const bool closed = ((f & LB_TCP_FIN) && (f & (LB_TCP_FIN << 8))) || (f & (LB_TCP_RST | (LB_TCP_RST << 8)));
      if (idle >= idleNs || (closed && idle >= closedIdleNs)) {
        victims.push_back(keys[i]);
        victimVals.push_back(v);
      }
    }
    if (err == -ENOENT) break;
    inBatch = outBatch;
    first = false;
  }

  // Delete in batches; a key that vanished meanwhile (evicted by the LRU) stops a batch: skip it and go on.
  size_t done = 0;
  while (done < victims.size()) {
    __u32 count = __u32(victims.size() - done);
    int err = bpf_map_delete_batch(flowsFd_, &victims[done], &count, &bo);
    for (__u32 i = 0; i < count; i++) {
      lb_flow_rec r = finalRecord(victims[done + i], victimVals[done + i], LB_FLOW_END_IDLE, now);
      sink(&r, sizeof(r));
      res.removed++;
    }
    done += count;
    if (err == -ENOENT) done++;
    else if (err) throw ProbeError("internal", std::string("removing idle flows failed (") + strerror(-err) + ")");
  }

  // Tell the kernel how many flows are live, for its overflow detection.
  const uint32_t live = res.entries - res.removed;
  lastEntries_ = live;
  uint32_t k0 = 0, k1 = 1;
  struct {
    uint64_t slot[LB_GLOBAL_SLOTS];
  } g, u;
  if (bpf_map_lookup_elem(globalFd_, &k0, &g) == 0) {
    memset(&u, 0, sizeof(u));
    u.slot[LB_G_REMOVED_BASE] = g.slot[LB_G_FLOWS_CREATED] - live;
    bpf_map_update_elem(globalFd_, &k1, &u, BPF_ANY);
  }
  return res;
}

std::pair<uint32_t, uint32_t> ProbeCore::benchEmit(uint32_t count, uint32_t seq) const {
  if (!benchProg_) throw ProbeError("invalid_argument", "the probe was opened without the bench program");
  lb_bench_args args{count, seq, 0, 0};
  bpf_test_run_opts o;
  memset(&o, 0, sizeof(o));
  o.sz = sizeof(o);
  o.ctx_in = &args;
  o.ctx_size_in = sizeof(args);
  int err = bpf_prog_test_run_opts(bpf_program__fd(benchProg_), &o);
  if (err) throw ProbeError("internal", std::string("running the bench program failed (") + strerror(-err) + ")");
  return {args.sent, args.full};
}

std::vector<std::pair<uint32_t, std::string>> dropReasonsFromBtf(const std::string& btfPath) {
  std::vector<std::pair<uint32_t, std::string>> out;
  btf* b = btf__parse(btfPath.c_str(), nullptr);
  if (!b) {
    throw ProbeError("missing_dependency", "the kernel's BTF type information could not be read from " + btfPath +
                                               ": lookback needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
  }
  int id = btf__find_by_name_kind(b, "skb_drop_reason", BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(b, id);
    const struct btf_enum* e = btf_enum(t);
    const char* prefix = "SKB_DROP_REASON_";
    for (int i = 0; i < btf_vlen(t); i++, e++) {
      std::string name = btf__name_by_offset(b, e->name_off);
      if (name.rfind(prefix, 0) == 0) name = name.substr(strlen(prefix));
      out.emplace_back(uint32_t(e->val), name);
    }
  }
  btf__free(b);
  return out;
}
