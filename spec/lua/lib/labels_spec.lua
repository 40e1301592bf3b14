local labels = require("enroller.labels")
local h = require("helpers")

describe("enroller.labels", function()
  local t = { ["teleport.app/env"] = "prod", ["teleport.app/"] = "x", team = "infra" }

  it("filter keeps keys with the prefix", function()
    assert.are.same({ ["teleport.app/env"] = "prod", ["teleport.app/"] = "x" }, labels.filter(t, "teleport.app/"))
  end)

  it("strip_prefix removes it and drops empty keys", function()
    assert.are.same({ env = "prod" }, labels.strip_prefix(t, "teleport.app/"))
  end)

  it("prefix adds one", function()
    assert.are.same({ ["x/team"] = "infra" }, labels.prefix({ team = "infra" }, "x/"))
  end)

  it("merge lets later tables win", function()
    assert.are.same({ a = "2", b = "1" }, labels.merge({ a = "1", b = "1" }, { a = "2" }))
  end)

  it("container_identity names the container", function()
    local c = h.container("inspect_rabbitmq.json")
    assert.are.same({
      ["container.name"] = "rabbitmq",
      ["container.image"] = "rabbitmq:3-management",
      ["container.id"] = c.id:sub(1, 12),
      ["container.hostname"] = "rabbit-1",
    }, labels.container_identity(c))
  end)

  describe("errors", function()
    it("raises on misuse", function()
      assert.are.equal("[labels] filter: argument 1: expected table, got nil", h.error_of(labels.filter, nil, "x"))
      assert.are.equal("[labels] prefix: argument 2: expected string, got number", h.error_of(labels.prefix, {}, 1))
      assert.are.equal("[labels] merge: argument 2: expected table, got string", h.error_of(labels.merge, {}, "x"))
    end)
  end)
end)

describe("enroller.labels.without / valid", function()
  local labels = require("enroller.labels")
  it("drops prefixes", function()
    assert.are.same({ a = "1" }, labels.without({ a = "1", ["x/b"] = "2", ["y.c"] = "3" }, "x/", "y."))
  end)
  it("keeps only keys Teleport accepts", function()
    assert.are.same({ ["ok.key/x"] = "1" },
      labels.valid({ ["ok.key/x"] = "1", ["bad key"] = "2", ["enroller.dev/owner"] = "3" }))
  end)
end)
