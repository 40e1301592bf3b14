local util = require("enroller.util")
local core = require("enroller.core")
local h = require("helpers")

describe("enroller.util", function()
  describe("dns_name", function()
    local cases = {
      { { "rabbitmq", "broker" }, "rabbitmq-broker" },
      { { "RabbitMQ", "My_Broker.1" }, "rabbitmq-my-broker-1" },
      { { "a", "--b--", "c" }, "a-b-c" },
      { { "__x__" }, "x" },
      { { "rabbitmq", "ünïcode" }, "rabbitmq-n-code" },
      { { "1st", "app" }, "x-1st-app" },
      { { "app", 2 }, "app-2" },
      { { "a b\tc" }, "a-b-c" },
    }
    for _, case in ipairs(cases) do
      it(("(%s) -> %s"):format(table.concat(case[1], ", "), case[2]), function()
        assert.are.equal(case[2], util.dns_name(table.unpack(case[1])))
      end)
    end

    it("keeps names of exactly 63 characters", function()
      local s = ("a"):rep(63)
      assert.are.equal(s, util.dns_name(s))
    end)

    it("cuts long names to 63 with a hash of the whole name", function()
      local long = ("abcdefghij"):rep(10)
      local name = util.dns_name("rabbitmq", long)
      assert.are.equal(63, #name)
      assert.are.equal("rabbitmq-" .. long:sub(1, 45) .. "-" .. util.fnv1a("rabbitmq-" .. long), name)
      assert.truthy(require("enroller.schema").is_dns_label(name))
    end)

    it("does not end the cut part with '-'", function()
      local name = util.dns_name(("a"):rep(53) .. "-" .. ("b"):rep(20))
      assert.are.equal(("a"):rep(53) .. "-" .. util.fnv1a(("a"):rep(53) .. "-" .. ("b"):rep(20)), name)
    end)

    it("is stable and tells long names apart", function()
      local a = util.dns_name(("x"):rep(80) .. "1")
      local b = util.dns_name(("x"):rep(80) .. "2")
      assert.are.equal(a, util.dns_name(("x"):rep(80) .. "1"))
      assert.are_not.equal(a, b)
      assert.are.equal(a:sub(1, 54), b:sub(1, 54))
    end)

    it("returns nil and a message when nothing is left", function()
      local name, err = util.dns_name("__", "..")
      assert.is_nil(name)
      assert.are.equal('dns_name: no letters or digits in "__-.."', err)
    end)

    it("raises on a part that is not a string", function()
      assert.are.equal("[util] dns_name: argument 2: expected string or number, got table",
        h.error_of(util.dns_name, "a", {}))
    end)
  end)

  describe("fnv1a", function()
    it("matches the published FNV-1a 32 vectors and enroller.core.hash", function()
      assert.are.equal("811c9dc5", util.fnv1a(""))
      assert.are.equal("e40c292c", util.fnv1a("a"))
      assert.are.equal("bf9cf968", util.fnv1a("foobar"))
      for _, s in ipairs({ "", "a", "foobar", ("z"):rep(1000) }) do
        assert.are.equal(core.hash(s), util.fnv1a(s))
      end
    end)
  end)
end)
