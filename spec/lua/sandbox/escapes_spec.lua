-- Rule-sandbox escapes, run through the real loader and runtime
-- (enroller.host, offered by enroller-lua): each must be refused or capped,
-- as one error naming the rule file, while well-behaved rules go on.
local host = require("enroller.host")
local helpers = require("helpers")

local LIMITS = { instructions = 2000000, memory = 8 * 1024 * 1024 }
local RABBIT = helpers.read(helpers.FIXTURES .. "inspect_rabbitmq.json")

local function rules(files)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir '" .. dir .. "'"))
  for name, text in pairs(files) do
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
  end
  return dir
end

local function cleanup(dir)
  os.execute("rm -rf '" .. dir .. "'")
end

-- A rule named `name` whose apps() body is `body` (line 5 on).
local function rule(name, body)
  return ([[local enroller = require("enroller")
return enroller.rule {
  name = "%s", description = "d", match = function(c) return true end,
  apps = function(c)
%s
  end,
}
]]):format(name, body)
end

local function eval(files)
  local dir = rules(files)
  local apps, err = host.eval(dir, RABBIT, LIMITS)
  cleanup(dir)
  return apps, err
end

local function refused(name, body)
  local apps, err = eval({ [name .. ".lua"] = rule(name, body) })
  assert.is_nil(apps)
  return err
end

describe("the rule sandbox", function()
  describe("bounds every call", function()
    it("pcall cannot swallow the budget error", function()
      assert.equals("rules/pc.lua:5: rule exceeded instruction budget",
        refused("pc", "while true do pcall(function() while true do end end) end"):gsub("^[^/]*/", "rules/", 1))
    end)

    it("neither can xpcall and its message handler", function()
      local err = refused("xp", "while true do xpcall(function() while true do end end, function() while true do end end) end")
      assert.matches("xp%.lua:5: rule exceeded instruction budget$", err)
    end)

    it("error() with a table changes nothing", function()
      assert.matches("et%.lua:5: rule exceeded instruction budget$", refused("et", "while true do pcall(error, {}) end"))
    end)

    it("refuses __gc finalizers", function()
      assert.matches("setmetatable: __gc is not allowed in rules",
        refused("gc", "setmetatable({}, { __gc = function() while true do end end })"))
    end)

    it("checks the output's __pairs and __index under the budget", function()
      assert.matches("op%.lua:5: rule exceeded instruction budget$", refused("op",
        "return { setmetatable({ name = 'a', uri = 'u' }, { __pairs = function() while true do end end }) }"))
      assert.matches("oi%.lua:5: rule exceeded instruction budget$", refused("oi",
        "return { setmetatable({}, { __index = function() while true do end end }) }"))
    end)

    it("charges string functions before they run", function()
      assert.matches("rule exceeded instruction budget %(string%.find%)$",
        refused("find", "string.find(('a'):rep(1e5), '.-.-.-.-b')"))
      assert.matches("rule exceeded instruction budget %(string%.gsub%)$",
        refused("gsub", "(('a'):rep(1e4)):gsub('(.-)(.-)b', '')"))
      assert.matches("rule exceeded instruction budget %(string%.rep%)$",
        refused("rep", "local s = ('x'):rep(1 << 16) while true do local y = s:rep(16) end"))
    end)

    it("charges table.concat of a huge range", function()
      assert.matches("rule exceeded instruction budget %(table%.concat%)$",
        refused("cat", "return table.concat(setmetatable({}, { __index = table.concat }), '', 1, 1e15)"))
    end)

    it("turns deep recursion into an error", function()
      assert.matches("C stack overflow", refused("crec", "local function f() return ('x'):gsub('x', f) end return f()"))
      assert.matches("memory limit", refused("rec", "local function f() return 1 + f() end return f()"))
    end)

    it("offers no coroutines, bytecode or string.dump", function()
      assert.matches("global 'coroutine'", refused("co", "coroutine.wrap(function() end)()"))
      assert.matches("field 'dump'", refused("dump", "string.dump(function() end)"))
      assert.matches("attempt to load a binary chunk", refused("bc", "assert(load('\\27Lua'))"))
    end)
  end)

  describe("isolates rules", function()
    it("keeps the string metatable", function()
      assert.matches("attempt to index a string value", refused("smt", "getmetatable('').__index = {}"))
      assert.matches("table expected", refused("smt2", "setmetatable('', {})"))
    end)

    it("keeps c:ip(), c.name and the library read-only", function()
      local apps, err = eval({
        ["a.lua"] = [[
local core = require("enroller.core")
pcall(function() core.container.ip = function() return "203.0.113.66" end end)
pcall(function() core.container.name = "evil" end)
pcall(function() core.container.id = "evil" end)
pcall(function() require("enroller.schema").validate = function() return true end end)
pcall(function() require("enroller.schema").validate_resource = function() return true end end)
_G = nil
return require("enroller").rule { name = "a", description = "d",
  match = function() return false end, apps = function() end }
]],
        ["b.lua"] = rule("b", "return { { name = 'rabbitmq-' .. c.name, uri = ('http://%s:15672/%s'):format(c:ip(), c.id:sub(1, 12)) } }"),
      })
      assert.is_nil(err)
      assert.same({ { name = "rabbitmq-rabbitmq", uri = "http://10.213.181.2:15672/0c661a22bc6e", rule = "b" } }, apps)
    end)

    it("says which module is read-only", function()
      local dir = rules({ ["v.lua"] = 'require("enroller.schema").validate = function() return true end\n' })
      local ok, err = host.load(dir, LIMITS)
      cleanup(dir)
      assert.is_nil(ok)
      assert.matches("v%.lua:1: enroller%.schema is read%-only %(field 'validate'%)$", err)
    end)

    it("keeps a rule's _G its own", function()
      local apps, err = eval({
        ["a.lua"] = rule("a", "_G.string = nil; string = nil; return {}"),
        ["b.lua"] = rule("b", "return { { name = ('b'):rep(2), uri = string.format('http://%s', 'x') } }"),
      })
      assert.is_nil(err)
      assert.same({ { name = "bb", uri = "http://x", rule = "b" } }, apps)
    end)
  end)
end)
