// N-API face of the probe. Records reach JavaScript in batches: a uv_poll on the ring buffer's fd wakes us, we wait
// coalesceMs for more, then copy every record back to back into ONE Buffer that JavaScript handed us at start
// (reused for every batch) and call the batch callback once per filled buffer. No JS call per record, no
// allocation per batch. All of this runs on the main thread, so no locking is needed.
//
// The flow program (the per-packet one) submits its records without waking us (BPF_RB_NO_WAKEUP): a ring buffer
// wakeup is an interrupt and a task wakeup run inside the BPF program, several microseconds on a VM, charged to
// whichever packet happened to be first after a drain. A tick every coalesceMs collects those records instead,
// so they wait no longer than they used to wait for the coalescing window. The other programs still wake us.
#include <napi.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>

#include "probe-core.h"

namespace {

const char* counterName(uint32_t i) {
  static const char* names[LB_CTR_MAX] = {};
  if (!names[0]) {
    names[LB_CTR_PACKETS] = "packets";
    names[LB_CTR_NOT_IP] = "notIp";
    names[LB_CTR_SAMPLED_OUT] = "sampledOut";
    names[LB_CTR_FLOWS_CREATED] = "flowsCreated";
    names[LB_CTR_FLOW_INSERT_FAILED] = "flowInsertFailed";
    names[LB_CTR_FLOW_RECORDS] = "flowRecords";
    names[LB_CTR_PAYLOAD_RECORDS] = "payloadRecords";
    names[LB_CTR_DROP_RECORDS] = "dropRecords";
    names[LB_CTR_DROPS_IGNORED] = "dropsIgnored";
    names[LB_CTR_TCP_RECORDS] = "tcpRecords";
    names[LB_CTR_OVERFLOW_RECORDS] = "overflowRecords";
    names[LB_CTR_RING_FULL_FLOW] = "ringFullFlow";
    names[LB_CTR_RING_FULL_PAYLOAD] = "ringFullPayload";
    names[LB_CTR_RING_FULL_DROP] = "ringFullDrop";
    names[LB_CTR_RING_FULL_TCP] = "ringFullTcp";
    names[LB_CTR_RING_FULL_OTHER] = "ringFullOther";
    names[LB_CTR_SECOND_INTERFACE] = "secondInterface";
  }
  return names[i] ? names[i] : "unknown";
}

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

[[noreturn]] void throwJs(Napi::Env env, const ProbeError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code));
  throw err;
}

uint64_t toU64(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return uint64_t(v.As<Napi::Number>().DoubleValue());
}

void setPortBits(uint8_t* bits, const Napi::Value& v) {
  if (!v.IsArray()) return;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    uint32_t p = a.Get(i).As<Napi::Number>().Uint32Value();
    if (p < 65536) bits[p >> 3] |= uint8_t(1u << (p & 7));
  }
}

}  // namespace

class Probe;

// Ring buffer reader state. Lives on the heap until libuv has closed both handles.
struct Reader {
  Probe* owner = nullptr;
  napi_env env = nullptr;
  ProbeCore* core = nullptr;
  ring_buffer* rb = nullptr;
  uv_poll_t poll{};
  uv_timer_t timer{};
  uv_timer_t tick{};  // collects records submitted without a wakeup
  int openHandles = 0;
  uint8_t* buf = nullptr;
  size_t cap = 0;
  size_t len = 0;
  uint32_t count = 0;
  uint64_t coalesceMs = 5;
  bool delivering = false;
  Napi::ObjectReference bufferRef;
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> asyncContext;
  Napi::ObjectReference pendingError;
  bool hasError = false;
  uint64_t ringFullSeen = 0;
  uint64_t records = 0, batches = 0, bytes = 0, lostReported = 0;

  void append(const void* rec, size_t size);
  void flush();
  void drain();
};

namespace {

int onSample(void* ctx, void* data, size_t size) {
  static_cast<Reader*>(ctx)->append(data, size);
  return 0;
}

void onTimer(uv_timer_t* t);

void onPoll(uv_poll_t* p, int status, int) {
  Reader* r = static_cast<Reader*>(p->data);
  if (status < 0) return;
  if (r->coalesceMs == 0) {
    r->drain();
    return;
  }
  // Let records accumulate: one batch per coalescing window instead of one per wakeup.
  uv_poll_stop(&r->poll);
  uv_timer_start(&r->timer, onTimer, r->coalesceMs, 0);
}

void onTimer(uv_timer_t* t) {
  Reader* r = static_cast<Reader*>(t->data);
  r->drain();
  uv_poll_start(&r->poll, UV_READABLE, onPoll);
}

// Every coalescing window: take what the flow program queued without waking us, unless a wakeup already
// started a window (its timer drains everything).
void onTick(uv_timer_t* t) {
  Reader* r = static_cast<Reader*>(t->data);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&r->timer)) || !r->rb) return;
  if (ring_buffer__consume(r->rb) > 0 || r->count > 0) r->drain();
}

void onHandleClosed(uv_handle_t* h) {
  Reader* r = static_cast<Reader*>(h->data);
  if (--r->openHandles == 0) delete r;
}

}  // namespace

void Reader::append(const void* rec, size_t size) {
  const size_t padded = (size + 7) & ~size_t(7);
  if (len + padded + sizeof(lb_lost_rec) > cap) flush();
  if (padded + sizeof(lb_lost_rec) > cap) return;  // cannot happen: the buffer holds many maximal records
  memcpy(buf + len, rec, size);
  if (padded > size) memset(buf + len + size, 0, padded - size);
  len += padded;
  count++;
}

void Reader::flush() {
  // Kernel-side loss becomes a record in the stream, so consumers see where data is missing.
  uint64_t full = core ? core->ringFullTotal() : 0;
  if (full > ringFullSeen) {
    lb_lost_rec lost;
    memset(&lost, 0, sizeof(lost));
    lost.hdr.kind = LB_REC_LOST;
    lost.hdr.size = sizeof(lost);
    lost.hdr.time_ns = monotonicNs();
    lost.lost = full - ringFullSeen;
    lostReported += lost.lost;
    ringFullSeen = full;
    memcpy(buf + len, &lost, sizeof(lost));
    len += sizeof(lost);
    count++;
  }
  if (count == 0) return;
  const uint32_t n = count;
  const size_t b = len;
  records += n;
  bytes += b;
  batches++;
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  delivering = true;
  try {
    callback.MakeCallback(e.Global(), {Napi::Number::New(e, n), Napi::Number::New(e, double(b))}, *asyncContext);
  } catch (const Napi::Error& err) {
    if (!hasError) {
      pendingError = Napi::Persistent(err.Value());
      hasError = true;
    }
  }
  delivering = false;
  len = 0;
  count = 0;
}

void Reader::drain() {
  if (rb) ring_buffer__consume(rb);
  flush();
  if (hasError) {
    // A batch handler threw while the event loop, not JavaScript, called us: report it as uncaught.
    hasError = false;
    Napi::Env e(env);
    Napi::HandleScope scope(e);
    Napi::Value v = pendingError.Value();
    pendingError.Reset();
    napi_fatal_exception(env, v);
  }
}

class Probe : public Napi::ObjectWrap<Probe> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "Probe",
        {
            InstanceMethod<&Probe::Attach>("attach"),
            InstanceMethod<&Probe::Detach>("detach"),
            InstanceMethod<&Probe::Attachments>("attachments"),
            InstanceMethod<&Probe::Start>("start"),
            InstanceMethod<&Probe::Stop>("stop"),
            InstanceMethod<&Probe::Drain>("drain"),
            InstanceMethod<&Probe::Sweep>("sweep"),
            InstanceMethod<&Probe::Counters>("counters"),
            InstanceMethod<&Probe::ProgramStats>("programStats"),
            InstanceMethod<&Probe::BenchStart>("benchStart"),
            InstanceMethod<&Probe::BenchStatus>("benchStatus"),
            InstanceMethod<&Probe::BenchStop>("benchStop"),
            InstanceMethod<&Probe::Close>("close"),
        });
    exports.Set("Probe", cls);
    exports.Set("dropReasons", Napi::Function::New(env, DropReasons));
    exports.Set("threadCpuNs", Napi::Function::New(env, ThreadCpuNs));
    exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs));
    exports.Set("enableStats", Napi::Function::New(env, EnableStats));
    exports.Set("closeFd", Napi::Function::New(env, CloseFd));
    return exports;
  }

  explicit Probe(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Probe>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    ProbeOptions opts;
    Napi::Array objs = o.Get("objects").As<Napi::Array>();
    for (uint32_t i = 0; i < objs.Length(); i++) {
      Napi::Object s = objs.Get(i).As<Napi::Object>();
      opts.objects.push_back({s.Get("role").As<Napi::String>(), s.Get("path").As<Napi::String>()});
    }
    opts.btfPath = o.Get("btfPath").As<Napi::String>();
    opts.ringBytes = o.Get("ringBytes").As<Napi::Number>().Uint32Value();
    opts.flowCapacity = o.Get("flowCapacity").As<Napi::Number>().Uint32Value();
    Napi::Object c = o.Get("config").As<Napi::Object>();
    lb_config& cfg = opts.config;
    memset(&cfg, 0, sizeof(cfg));
    cfg.active_timeout_ns = toU64(c.Get("activeTimeoutNs"));
    cfg.sample_every = c.Get("sampleEvery").As<Napi::Number>().Uint32Value();
    cfg.flow_capacity = opts.flowCapacity;
    cfg.snap_len = c.Get("snapLen").As<Napi::Number>().Uint32Value();
    if (cfg.snap_len > LB_SNAP_MAX) cfg.snap_len = LB_SNAP_MAX;
    cfg.payload_rec_size = uint32_t((sizeof(lb_payload_rec) + cfg.snap_len + 7) & ~size_t(7));
    cfg.tcp_state_mask = c.Get("tcpStateMask").As<Napi::Number>().Uint32Value();
    cfg.no_socket_reason = c.Get("noSocketReason").IsNumber() ? c.Get("noSocketReason").As<Napi::Number>().Uint32Value() : 0;
    setPortBits(cfg.payload_ports_tcp, c.Get("payloadPortsTcp"));
    setPortBits(cfg.payload_ports_udp, c.Get("payloadPortsUdp"));
    Napi::Value ignore = c.Get("dropIgnore");
    if (ignore.IsArray()) {
      Napi::Array a = ignore.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        uint32_t v = a.Get(i).As<Napi::Number>().Uint32Value();
        if (v < 1024) cfg.drop_ignore[v >> 3] |= uint8_t(1u << (v & 7));
      }
    }
    try {
      core_ = std::make_unique<ProbeCore>(opts);
    } catch (const ProbeError& e) {
      throwJs(env, e);
    }
  }

  ~Probe() override { shutdown(); }

 private:
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireOpen(env);
    std::string ifname = info[0].As<Napi::String>();
    bool egress = std::string(info[1].As<Napi::String>()) == "egress";
    std::string mode = info[2].IsString() ? std::string(info[2].As<Napi::String>()) : "auto";
    try {
      return describe(env, core_->attach(ifname, egress, mode));
    } catch (const ProbeError& e) {
      throwJs(env, e);
    }
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!core_) return Napi::Boolean::New(env, false);
    bool egress = std::string(info[1].As<Napi::String>()) == "egress";
    return Napi::Boolean::New(env, core_->detach(info[0].As<Napi::String>(), egress));
  }

  Napi::Value Attachments(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if (!core_) return out;
    uint32_t i = 0;
    for (const auto& a : core_->attachments()) out.Set(i++, describe(env, a));
    return out;
  }

  // start(buffer, callback(count, bytes), coalesceMs)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireOpen(env);
    if (reader_) throw Napi::Error::New(env, "the probe is already reading");
    Napi::Buffer<uint8_t> b = info[0].As<Napi::Buffer<uint8_t>>();
    if (b.Length() < 64 * 1024) throw Napi::Error::New(env, "the batch buffer must hold at least 64 KiB");
    auto* r = new Reader();
    r->owner = this;
    r->env = env;
    r->core = core_.get();
    r->buf = b.Data();
    r->cap = b.Length();
    r->bufferRef = Napi::Persistent(b.As<Napi::Object>());
    r->callback = Napi::Persistent(info[1].As<Napi::Function>());
    r->asyncContext = std::make_unique<Napi::AsyncContext>(env, "lookback.probe");
    r->coalesceMs = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 5;
    r->ringFullSeen = core_->ringFullTotal();
    r->rb = ring_buffer__new(core_->ringFd(), onSample, r, nullptr);
    if (!r->rb) {
      delete r;
      throw Napi::Error::New(env, "could not map the ring buffer");
    }
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    uv_poll_init(loop, &r->poll, core_->ringFd());
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->tick);
    r->poll.data = r;
    r->timer.data = r;
    r->tick.data = r;
    r->openHandles = 3;
    uv_poll_start(&r->poll, UV_READABLE, onPoll);
    const uint64_t every = r->coalesceMs > 0 ? r->coalesceMs : 1;
    uv_timer_start(&r->tick, onTick, every, every);
    uv_unref(reinterpret_cast<uv_handle_t*>(&r->tick));  // the poll handle decides whether the loop stays alive
    reader_ = r;
    return env.Undefined();
  }

  // Stops reading after delivering what is queued. Returns delivery statistics.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (reader_ && reader_->delivering) throw Napi::Error::New(env, "stop() cannot be called from a batch handler");
    stopReader(true);
    return env.Undefined();
  }

  // Delivers everything in the ring now, synchronously (tests, shutdown).
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!reader_) return env.Undefined();
    if (reader_->delivering) throw Napi::Error::New(env, "drain() cannot be called from a batch handler");
    drainFromJs(env);
    return env.Undefined();
  }

  // sweep(idleNs, closedIdleNs, flushAll) -> { entries, removed }; final records go through the batch callback.
  Napi::Value Sweep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireOpen(env);
    if (reader_ && reader_->delivering) throw Napi::Error::New(env, "sweep() cannot be called from a batch handler");
    uint64_t idle = toU64(info[0]);
    uint64_t closedIdle = toU64(info[1]);
    bool all = info[2].ToBoolean();
    SweepResult res;
    try {
      // Records already in the ring come first, so a flow's end follows its earlier records.
      if (reader_ && reader_->rb) ring_buffer__consume(reader_->rb);
      res = core_->sweep(idle, closedIdle, all, [this](const void* rec, uint32_t size) {
        if (reader_) reader_->append(rec, size);
      });
      if (reader_) reader_->flush();
    } catch (const ProbeError& e) {
      throwJs(env, e);
    }
    rethrowPending(env);
    Napi::Object out = Napi::Object::New(env);
    out.Set("entries", res.entries);
    out.Set("removed", res.removed);
    return out;
  }

  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    if (core_) {
      std::vector<uint64_t> c = core_->counters();
      for (uint32_t i = 0; i < LB_CTR_MAX; i++) out.Set(counterName(i), double(c[i]));
      out.Set("flowEntries", core_->flowEntries());
      out.Set("flowCapacity", core_->flowCapacity());
    }
    if (reader_) {
      out.Set("recordsDelivered", double(reader_->records));
      out.Set("batchesDelivered", double(reader_->batches));
      out.Set("bytesDelivered", double(reader_->bytes));
      out.Set("lostReported", double(reader_->lostReported));
    }
    return out;
  }

  Napi::Value ProgramStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if (!core_) return out;
    uint32_t i = 0;
    for (const auto& s : core_->programStats()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", s.name);
      o.Set("id", s.id);
      o.Set("runTimeNs", double(s.runTimeNs));
      o.Set("runCount", double(s.runCount));
      out.Set(i++, o);
    }
    return out;
  }

  // benchStart(total, ratePerSecond (0 = as fast as possible), recordsPerRun): a native thread runs the bench
  // program, which writes synthetic records into the ring while the main thread delivers them.
  Napi::Value BenchStart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireOpen(env);
    if (!core_->hasBench()) throw Napi::Error::New(env, "the probe was opened without the bench program");
    joinBench();
    const uint64_t total = toU64(info[0]);
    const double rate = info[1].As<Napi::Number>().DoubleValue();
    const uint32_t perRun = info[2].As<Napi::Number>().Uint32Value();
    bench_ = std::make_unique<Bench>();
    Bench* b = bench_.get();
    ProbeCore* core = core_.get();
    b->running = true;
    b->thread = std::thread([b, core, total, rate, perRun]() {
      auto start = std::chrono::steady_clock::now();
      uint64_t produced = 0;
      try {
        while (produced < total && !b->stop) {
          uint32_t n = uint32_t(std::min<uint64_t>(perRun, total - produced));
          auto res = core->benchEmit(n, uint32_t(produced));
          produced += n;
          b->sent += res.first;
          b->full += res.second;
          b->produced = produced;
          if (rate > 0) {
            auto due = start + std::chrono::nanoseconds(uint64_t(double(produced) * 1e9 / rate));
            std::this_thread::sleep_until(due);
          }
        }
      } catch (const std::exception& e) {
        b->error = e.what();
      }
      b->elapsedNs = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - start).count());
      timespec cpu{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
      b->cpuNs = uint64_t(cpu.tv_sec) * 1000000000ull + uint64_t(cpu.tv_nsec);
      b->running = false;
    });
    return env.Undefined();
  }

  Napi::Value BenchStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    Bench* b = bench_.get();
    out.Set("running", b ? bool(b->running) : false);
    out.Set("produced", b ? double(b->produced) : 0.0);
    out.Set("sent", b ? double(b->sent) : 0.0);
    out.Set("ringFull", b ? double(b->full) : 0.0);
    out.Set("elapsedNs", b && !b->running ? double(b->elapsedNs) : 0.0);
    out.Set("cpuNs", b && !b->running ? double(b->cpuNs) : 0.0);
    if (b && !b->running && !b->error.empty()) out.Set("error", b->error);
    return out;
  }

  Napi::Value BenchStop(const Napi::CallbackInfo& info) {
    joinBench();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (reader_ && reader_->delivering) throw Napi::Error::New(env, "close() cannot be called from a batch handler");
    shutdown();
    return env.Undefined();
  }

  static Napi::Value DropReasons(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      auto reasons = dropReasonsFromBtf(info[0].As<Napi::String>());
      Napi::Array out = Napi::Array::New(env, reasons.size());
      for (size_t i = 0; i < reasons.size(); i++) {
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(uint32_t(0), reasons[i].first);
        pair.Set(uint32_t(1), reasons[i].second);
        out.Set(uint32_t(i), pair);
      }
      return out;
    } catch (const ProbeError& e) {
      throwJs(env, e);
    }
  }

  static Napi::Value ThreadCpuNs(const Napi::CallbackInfo& info) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return Napi::Number::New(info.Env(), double(ts.tv_sec) * 1e9 + double(ts.tv_nsec));
  }

  static Napi::Value MonotonicNs(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(monotonicNs()));
  }

  // Turns on the kernel's BPF run-time statistics for as long as the returned fd is open (or we live).
  static Napi::Value EnableStats(const Napi::CallbackInfo& info) {
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    return Napi::Number::New(info.Env(), fd);
  }

  static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
    int fd = info[0].As<Napi::Number>().Int32Value();
    if (fd >= 0) ::close(fd);
    return info.Env().Undefined();
  }

  struct Bench {
    std::thread thread;
    std::atomic<bool> running{false};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> produced{0}, sent{0}, full{0};
    uint64_t elapsedNs = 0;
    uint64_t cpuNs = 0;  // CPU time of the producer thread (kernel time of the bench program included)
    std::string error;
  };

  void requireOpen(Napi::Env env) {
    if (!core_) throw Napi::Error::New(env, "the probe is closed");
  }

  static Napi::Object describe(Napi::Env env, const Attachment& a) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifname", a.ifname);
    o.Set("ifindex", a.ifindex);
    o.Set("direction", a.egress ? "egress" : "ingress");
    o.Set("mode", a.mode);
    o.Set("progId", a.progId);
    o.Set("linkId", a.linkId);
    return o;
  }

  void drainFromJs(Napi::Env env) {
    if (reader_->rb) ring_buffer__consume(reader_->rb);
    reader_->flush();
    rethrowPending(env);
  }

  void rethrowPending(Napi::Env env) {
    if (reader_ && reader_->hasError) {
      reader_->hasError = false;
      Napi::Value v = reader_->pendingError.Value();
      reader_->pendingError.Reset();
      throw Napi::Error(env, v);
    }
  }

  void stopReader(bool deliverRest) {
    Reader* r = reader_;
    if (!r) return;
    if (deliverRest) {
      if (r->rb) ring_buffer__consume(r->rb);
      r->flush();
      r->hasError = false;
      r->pendingError.Reset();
    }
    uv_poll_stop(&r->poll);
    uv_timer_stop(&r->timer);
    uv_timer_stop(&r->tick);
    if (r->rb) ring_buffer__free(r->rb);
    r->rb = nullptr;
    r->core = nullptr;
    r->bufferRef.Reset();
    r->callback.Reset();
    r->asyncContext.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), onHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&r->timer), onHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&r->tick), onHandleClosed);
    reader_ = nullptr;
  }

  void joinBench() {
    if (!bench_) return;
    bench_->stop = true;
    if (bench_->thread.joinable()) bench_->thread.join();
    bench_.reset();
  }

  void shutdown() {
    joinBench();
    stopReader(false);
    if (core_) core_->close();
    core_.reset();
  }

  std::unique_ptr<ProbeCore> core_;
  Reader* reader_ = nullptr;
  std::unique_ptr<Bench> bench_;
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return Probe::Init(env, exports); }

NODE_API_MODULE(lookback_bpf, InitAll)
