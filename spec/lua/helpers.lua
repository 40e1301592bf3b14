-- helpers.lua - shared by the specs (require "helpers"); runs inside
-- enroller-lua, so enroller.core is available.
local core = require("enroller.core")

local M = {}

M.FIXTURES = "spec/fixtures/docker/"

--- The text of a fixture file.
function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- A container userdata from a recorded `docker inspect` fixture.
function M.container(name)
  local c, err = core.container_from_inspect(M.read(M.FIXTURES .. name))
  assert(c, err)
  return c
end

--- The same fixture decoded, edited by fn(doc), and turned into a container
--- (for cases the recordings do not cover).  Uses lua-cjson.
function M.container_edited(name, fn)
  local cjson = require("cjson")
  local doc = cjson.decode(M.read(M.FIXTURES .. name))
  fn(doc)
  local c, err = core.container_from_inspect(cjson.encode(doc))
  assert(c, err)
  return c
end

--- The rule a rule file returns, loaded fresh.
function M.rule(path)
  return assert(loadfile(path))()
end

--- pcall(fn, ...) expecting failure; returns the message.
function M.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

return M
