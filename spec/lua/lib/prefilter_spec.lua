-- The rule pre-filter fields of rule{} (match_image, match_label): what the
-- schema accepts and the one-line message for what it does not.  Their
-- meaning (checked in C) is spec/c/test_rule_prefilter.c.
local enroller = require("enroller")
local schema = require("enroller.schema")
local h = require("helpers")

local function spec(over)
  local t = { name = "r", description = "d", match = function() return true end, apps = function() return {} end }
  for k, v in pairs(over or {}) do t[k] = v end
  return t
end

describe("rule{} pre-filter fields", function()
  it("takes a string or a list of strings", function()
    for _, v in ipairs({ "rabbitmq", { "rabbitmq", "*/rabbitmq" }, "grafana/grafana-*", "localhost:5000/team/web",
                         "quay.io/prometheus/prometheus", "[a-z]*" }) do
      assert.is_true(enroller.is_rule(enroller.rule(spec({ match_image = v }))))
    end
    for _, v in ipairs({ "enroller.http", { "teleport.dev/name", "teleport.dev/port" }, "weird key:with=signs" }) do
      assert.is_true(enroller.is_rule(enroller.rule(spec({ match_label = v }))))
    end
    local r = enroller.rule(spec({ match_image = "nginx", match_label = "web" }))
    assert.are.equal("nginx", r.match_image)
    assert.are.equal("web", r.match_label)
  end)

  it("keeps a copy of a list, not the caller's table", function()
    local images = { "nginx" }
    local r = enroller.rule(spec({ match_image = images }))
    images[1] = "httpd"
    assert.are.same({ "nginx" }, r.match_image)
    assert.are_not.equal(images, r.match_image)
  end)

  describe("errors", function()
    local P = "[enroller] rule{}: "
    local cases = {
      { { match_image = 5 }, "field 'match_image': expected a string or a list of strings, got number" },
      { { match_label = true }, "field 'match_label': expected a string or a list of strings, got boolean" },
      { { match_image = function() end }, "field 'match_image': expected a string or a list of strings, got function" },
      { { match_image = {} }, "field 'match_image': expected a string or a non-empty list of strings" },
      { { match_label = { k = "v" } }, "field 'match_label': expected a string or a non-empty list of strings" },
      { { match_image = { "nginx", 3 } }, "field 'match_image[2]': expected string, got number" },
      { { match_label = { { "x" } } }, "field 'match_label[1]': expected string, got table" },
      { { match_image = "" }, "field 'match_image': must not be empty" },
      { { match_label = { "" } }, "field 'match_label[1]': must not be empty" },
      { { match_image = "rabbitmq:3-management" },
        "field 'match_image': 'rabbitmq:3-management' has a tag; match_image matches the repository only "
          .. "(c.image_name)" },
      { { match_image = "localhost:5000/web:1" },
        "field 'match_image': 'localhost:5000/web:1' has a tag; match_image matches the repository only "
          .. "(c.image_name)" },
      { { match_image = "nginx@sha256:abc" },
        "field 'match_image': 'nginx@sha256:abc' has a digest; match_image matches the repository only "
          .. "(c.image_name)" },
      { { match_image = "ng\tinx" }, "field 'match_image': contains a control character (byte 0x09 at 3)" },
      { { match_image = ("a"):rep(256) }, "field 'match_image': is 256 bytes; at most 255" },
      { { match_imgae = "nginx" }, "field 'match_imgae' is not allowed" },
    }
    for _, case in ipairs(cases) do
      it(case[2], function()
        assert.are.equal(P .. case[2], h.error_of(enroller.rule, spec(case[1])))
      end)
    end

    it("blames the rule file's line", function()
      local err = h.error_of(function()
        local r = enroller.rule(spec({ match_label = 42 }))
        return r
      end)
      assert.matches("^spec/lua/lib/prefilter_spec%.lua:%d+: %[enroller%] rule{}: field 'match_label': "
        .. "expected a string or a list of strings, got number$", err)
    end)
  end)

  it("is described in schema.rule", function()
    assert.are.equal("strings", schema.rule.fields.match_image.type)
    assert.are.equal("strings", schema.rule.fields.match_label.type)
  end)
end)
