-- wrk script: walks a list of request paths so that the benchmark hits many distinct tiles.
-- Arguments after `--`: the path list file (one path per line) and wrk's thread count.
-- Thread t of T takes paths t, t+T, t+2T, ... (each request the next one, whichever
-- connection sends it) and wraps around at the end, so no tile repeats before then.
--   wrk -t2 -c8 -d10s -s bench/walk.lua http://127.0.0.1:8080 -- paths.txt 2

local counter = 0

-- Runs in wrk's main Lua state, once per thread, before that thread's init().
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

-- Runs in each thread's own Lua state.
function init(args)
  local file = args[1]
  if file == nil then
    error("walk.lua: pass the path list (and the thread count) after --")
  end
  paths = {}
  for line in io.lines(file) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("walk.lua: no paths in " .. file)
  end
  stride = tonumber(args[2] or "1")
  pos = (id or 0) % #paths
end

function request()
  local path = paths[pos + 1]
  pos = (pos + stride) % #paths
  return wrk.format("GET", path)
end
