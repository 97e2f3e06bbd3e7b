-- wrk script for `make soak`: POST /v1/chat/completions (not streamed) with
-- one fixed prompt; the provider echoes it, so every answer must be a 200
-- whose body carries exactly that content. done() prints one line,
--   soak: requests=N good=G bad=B
-- that tests/gateway/soak.py checks (wrk's own exit status does not).
local prompt = "soak: the quick brown fox jumps over the lazy dog \195\169 \240\159\152\128"
local expected = '"message":{"role":"assistant","content":"' .. prompt .. '"}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"t","messages":[{"role":"user","content":"' .. prompt ..
           '"}],"max_tokens":64,"stream":false}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good = 0
  bad = 0
  first_bad = ""
end

function response(status, headers, body)
  if status == 200 and string.find(body, expected, 1, true) ~= nil then
    good = good + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body, 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local g, b, fb = 0, 0, ""
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    if fb == "" then fb = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    "soak: requests=%d good=%d bad=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, g, b, e.connect, e.read, e.write, e.status, e.timeout))
  if fb ~= "" then io.write("soak: first bad response: " .. fb .. "\n") end
end
