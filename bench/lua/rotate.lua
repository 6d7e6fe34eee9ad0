-- Rotating requests for wrk: `wrk ... -s bench/lua/rotate.lua URL -- REQUESTS_FILE`.
--
-- REQUESTS_FILE holds one request per line, tab-separated: METHOD, PATH, API token, JSON body
-- (or "-" for none). Each thread starts at its own offset and walks the list round-robin, so
-- users (tokens), conversations and messages rotate. `done()` prints one line, "BENCH {json}",
-- with throughput, p50/p95/p99/max in microseconds and the error counts, including every
-- response that was not 2xx (wrk itself only counts statuses >= 400).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local requests = {}
local position = 1
non2xx = 0
first_bad = ""

function init(args)
   local path = args[1]
   local file = assert(io.open(path, "r"))
   for line in file:lines() do
      local method, target, token, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
      if method then
         local headers = { ["Authorization"] = "Token " .. token }
         if body == "-" then
            body = nil
         else
            headers["Content-Type"] = "application/json"
         end
         table.insert(requests, wrk.format(method, target, headers, body))
      end
   end
   file:close()
   assert(#requests > 0, "no requests in " .. path)
   -- Spread the threads over the list so two threads do not send the same user in lockstep.
   position = (id * 7919) % #requests + 1
end

function request()
   local r = requests[position]
   position = position % #requests + 1
   return r
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

local function escape(text)
   return (text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

function done(summary, latency, requests)
   local bad, sample = 0, ""
   for _, thread in ipairs(threads) do
      bad = bad + (thread:get("non2xx") or 0)
      local example = thread:get("first_bad") or ""
      if sample == "" then sample = example end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p95_us":%d,' ..
      '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"timeouts":%d,"status_errors":%d,"non2xx":%d,"first_bad":"%s"}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
      latency.mean, e.connect, e.read, e.write, e.timeout, e.status, bad, escape(sample)))
end
