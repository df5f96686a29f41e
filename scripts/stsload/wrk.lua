-- AssumeRoleWithWebIdentity calls for wrk (Debian's wrk 4), used by scripts/sts-load.sh
-- with CLIENT=wrk. Tokens come from the file named by STSLOAD_TOKENS, one a line; wrk's
-- threads take disjoint shares of them in turn. The role is STSLOAD_ROLE. Nothing of a
-- token or an answer is printed.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local bodies = {}
local n = 0
local i = 0

function init(args)
  local role = urlencode(os.getenv("STSLOAD_ROLE"))
  local nthreads = tonumber(os.getenv("STSLOAD_THREADS") or "1")
  local k = 0
  for line in io.lines(os.getenv("STSLOAD_TOKENS")) do
    if #line > 0 then
      if k % nthreads == id or n == 0 and k == 0 then
        n = n + 1
        bodies[n] = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" .. role ..
          "&RoleSessionName=load&WebIdentityToken=" .. urlencode(line)
      end
      k = k + 1
    end
  end
end

function request()
  i = i % n + 1
  return wrk.format("POST", "/", {["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"}, bodies[i])
end
