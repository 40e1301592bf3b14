local enroller = require("enroller")
local h = require("helpers")

local function spec(over)
  local t = { name = "r", description = "d", match = function() return true end, apps = function() return {} end }
  for k, v in pairs(over or {}) do t[k] = v end
  return t
end

describe("enroller.rule", function()
  it("builds a rule the loader recognises", function()
    local r = enroller.rule(spec())
    assert.is_true(enroller.is_rule(r))
    assert.are.equal("r", r.name)
    assert.is_false(enroller.is_rule(spec()))
    assert.is_false(enroller.is_rule(nil))
  end)

  it("does not keep the caller's table", function()
    local t = spec()
    local r = enroller.rule(t)
    t.name = "changed"
    assert.are.equal("r", r.name)
  end)

  describe("errors", function()
    local cases = {
      { "x", "[enroller] rule{}: expected a table, got string" },
      { spec({ name = false }), "[enroller] rule{}: field 'name': expected string, got boolean" },
      { spec({ apps = "f" }), "[enroller] rule{}: field 'apps': expected function, got string" },
      { spec({ mtach = 1 }), "[enroller] rule{}: field 'mtach' is not allowed" },
      { spec({ name = "Rabbit MQ" }),
        "[enroller] rule{}: field 'name': 'Rabbit MQ' is not a valid name (lower-case letters, digits and '-', starting with a letter, at most 63 characters; enroller.util.dns_name() builds one)" },
    }
    for _, case in ipairs(cases) do
      it(case[2], function()
        assert.are.equal(case[2], h.error_of(enroller.rule, case[1]))
      end)
    end

    for _, field in ipairs({ "name", "description", "match", "apps" }) do
      it("requires " .. field, function()
        local t = spec()
        t[field] = nil
        assert.are.equal(("[enroller] rule{}: field '%s' is required"):format(field), h.error_of(enroller.rule, t))
      end)
    end

    it("blames the caller's line", function()
      local err = h.error_of(function()
        local r = enroller.rule(spec({ bogus = true }))
        return r
      end)
      assert.matches("^spec/lua/lib/rule_spec%.lua:%d+: %[enroller%] rule{}: field 'bogus' is not allowed$", err)
    end)
  end)
end)
