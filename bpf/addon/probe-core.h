// The libbpf side of the probe, free of N-API: open and load the BPF objects with one shared ring buffer and
// counters, attach the flow programs to interfaces (TCX links, cls_bpf as a fallback), read counters and run-time
// statistics, sweep idle flows. Failures throw ProbeError with a code the TypeScript wrapper maps to LookbackError.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "../records.h"
}

struct bpf_object;
struct bpf_program;
struct bpf_link;

// code: permission | missing_dependency | not_found | verifier | invalid_argument | internal
class ProbeError : public std::runtime_error {
 public:
  ProbeError(std::string code, const std::string& message) : std::runtime_error(message), code(std::move(code)) {}
  std::string code;
};

struct ObjectSpec {
  std::string role;  // flow | drop | tcp | bench
  std::string path;
};

struct ProbeOptions {
  std::vector<ObjectSpec> objects;
  std::string btfPath;
  uint32_t ringBytes = 8u << 20;
  uint32_t flowCapacity = 65536;
  lb_config config{};
};

struct Attachment {
  std::string ifname;
  int ifindex = 0;
  bool egress = false;
  std::string mode;  // tcx | tc
  int linkFd = -1;   // tcx: the link; closing it (or our exit) detaches
  uint32_t progId = 0;
  uint32_t linkId = 0;
};

struct ProgramStat {
  std::string name;
  uint32_t id;
  uint64_t runTimeNs;
  uint64_t runCount;
};

struct SweepResult {
  uint32_t entries = 0;  // entries seen
  uint32_t removed = 0;
};

// Receives final flow records produced by a sweep.
using RecordSink = std::function<void(const void* rec, uint32_t size)>;

class ProbeCore {
 public:
  explicit ProbeCore(const ProbeOptions& opts);
  ~ProbeCore();
  ProbeCore(const ProbeCore&) = delete;
  ProbeCore& operator=(const ProbeCore&) = delete;

  const Attachment& attach(const std::string& ifname, bool egress, const std::string& mode);
  bool detach(const std::string& ifname, bool egress);
  const std::vector<Attachment>& attachments() const { return attachments_; }
  void close();

  int ringFd() const { return ringFd_; }
  // Sum over CPUs of every LB_CTR_* counter.
  std::vector<uint64_t> counters() const;
  uint64_t ringFullTotal() const;
  std::vector<ProgramStat> programStats() const;
  // Idle sweep: removes flows idle for idleNs (closed TCP flows after closedIdleNs) and hands their final
  // counters to sink as LB_FLOW_END_IDLE records. flushAll removes every flow (LB_FLOW_END_FLUSH).
  SweepResult sweep(uint64_t idleNs, uint64_t closedIdleNs, bool flushAll, const RecordSink& sink);
  uint32_t flowEntries() const { return lastEntries_; }
  uint32_t flowCapacity() const { return flowCapacity_; }
  // Runs the bench program once: writes count synthetic records. Returns {sent, ring full}.
  std::pair<uint32_t, uint32_t> benchEmit(uint32_t count, uint32_t seq) const;
  bool hasBench() const { return benchProg_ != nullptr; }

 private:
  struct Loaded {
    std::string role;
    std::string path;
    bpf_object* obj;
  };
  // withShared: load lb_tc (one program for both TCX directions) when the kernel seems to support it; a load that
  // fails with it is tried again without it.
  void loadObject(const ObjectSpec& spec, const ProbeOptions& opts, bool withShared = true);
  void attachTracing(const Loaded& l);
  // The program to attach: the one shared by both directions for TCX links where the kernel could load it,
  // otherwise (and always for cls_bpf filters) the one for the direction.
  bpf_program* flowProgram(bool egress, bool tcx) const;

  std::vector<Loaded> objects_;
  std::vector<Attachment> attachments_;
  std::vector<bpf_link*> tracingLinks_;
  int ringFd_ = -1;
  int countersFd_ = -1;
  int globalFd_ = -1;
  int flowsFd_ = -1;
  uint32_t flowCapacity_ = 0;
  uint32_t lastEntries_ = 0;
  int ncpus_ = 1;
  bpf_program* benchProg_ = nullptr;
  bpf_program* sharedFlowProg_ = nullptr;  // lb_tc, when loaded
};

// Drop reason names from the kernel's BTF: (value, name without the SKB_DROP_REASON_ prefix).
std::vector<std::pair<uint32_t, std::string>> dropReasonsFromBtf(const std::string& btfPath);
