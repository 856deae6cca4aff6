-- wrk script for the callback ingest benchmark (benchmarks/bench_http.py writes the requests file).
--
--   wrk -t2 -c32 -d10s --latency -s wrk_callbacks.lua http://127.0.0.1:PORT -- REQUESTS_FILE THREADS
--
-- Each line of REQUESTS_FILE is "<path>\t<body>". Thread n of THREADS sends lines n, n+THREADS ... once each,
-- in order, then starts again from its first line (a run sized so that no thread gets round again sends every
-- callback once).

local started = 0

function setup(thread)
  thread:set("id", started)
  started = started + 1
end

function init(args)
  local threads = tonumber(args[2])
  requests = {}
  local n = 0
  for line in io.lines(args[1]) do
    if n % threads == id then
      local tab = line:find("\t", 1, true)
      local path, body = line:sub(1, tab - 1), line:sub(tab + 1)
      requests[#requests + 1] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
    end
    n = n + 1
  end
  index = 0
end

function request()
  index = index % #requests + 1
  return requests[index]
end
