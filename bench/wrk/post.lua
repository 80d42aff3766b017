-- wrk script for the decision endpoints: POSTs JSON bodies read from BENCH_BODIES (one per
-- line), replacing {TX} by an id unique to this run, thread and request (a fraud check on a
-- transaction id already seen would be a replay, not a decision). With BENCH_DELAY_MS each
-- connection pauses between requests: 16 connections x 32 ms ~ 500 requests/s, a paced load.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  bodies[#bodies + 1] = line
end
local target = os.getenv("BENCH_PATH") or "/score"
local run_id = os.getenv("BENCH_RUN") or "0"
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local headers = { ["Content-Type"] = "application/json" }
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then headers["X-API-Key"] = key end

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  body = string.gsub(body, "{TX}", "B" .. run_id .. "-" .. tid .. "-" .. counter)
  return wrk.format("POST", target, headers, body)
end

if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
