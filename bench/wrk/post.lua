-- wrk script for the decision endpoints: POSTs JSON bodies read from BENCH_BODIES (one per
-- line), replacing {TX} by an id unique to this run, thread and request (a fraud check on a
-- transaction id already seen would be a replay, not a decision).
-- With BENCH_RATE (requests/s in all) the load is paced: each wrk thread hands out send slots
-- on a fixed schedule (monotonic clock through LuaJIT's FFI), so the connections together
-- send BENCH_RATE requests/s whatever the latency, as long as the server keeps up.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  bodies[#bodies + 1] = line
end
local target = os.getenv("BENCH_PATH") or "/score"
local run_id = os.getenv("BENCH_RUN") or "0"
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local wrk_threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local headers = { ["Content-Type"] = "application/json" }
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then headers["X-API-Key"] = key end

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- Each request's id, B<run>-<thread>-<n> (letters, digits and '-', 8 to 64 characters: the
-- platform keeps it as its X-Request-ID and stores it in the call log), replaces {TX} in the
-- body and goes in the X-Request-ID header: the rows each answered request stored are
-- checked against it afterwards.
local counter = 0
function request()
  counter = counter + 1
  local id = "B" .. run_id .. "-" .. tid .. "-" .. counter
  headers["X-Request-ID"] = id
  local body = string.gsub(bodies[(counter % #bodies) + 1], "{TX}", id)
  return wrk.format("POST", target, headers, body)
end

if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock_id, bench_timespec *tp);
  ]]
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * wrk_threads / rate -- this thread's share of the rate
  local next_slot = nil
  function delay()
    local t = now_ms()
    if next_slot == nil or next_slot < t - 1000 then
      next_slot = t -- start, or a stall: do not try to catch up on a backlog of slots
    end
    local wait = next_slot - t
    next_slot = next_slot + interval
    if wait <= 0 then
      return 0
    end
    return math.floor(wait + 0.5)
  end
end

-- With BENCH_ANSWERED (a file), each thread keeps the id echoed back (X-Request-ID) by every
-- 2xx answer, and done() writes them all there, one a line: which requests were answered,
-- not only how many. (Only then does wrk hand each response's headers to Lua.)
local answered_path = os.getenv("BENCH_ANSWERED") or ""
if answered_path ~= "" then
  answered = {}
  function response(status, headers, body)
    if status >= 200 and status < 300 then
      answered[#answered + 1] = headers["X-Request-ID"] or headers["x-request-id"] or "?"
    end
  end
end

function done(summary, latency, requests)
  if answered_path ~= "" then
    local out = assert(io.open(answered_path, "w"))
    for _, thread in ipairs(threads) do
      for _, id in ipairs(thread:get("answered") or {}) do
        out:write(id, "\n")
      end
    end
    out:close()
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
