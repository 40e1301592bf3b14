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

    it("writes the parts as tostring() does and keeps only ASCII letters and digits", function()
      assert.are.equal("app-1-5-x-2", util.dns_name("app", 1.5, "x", 2))
      assert.are.equal("v-3-0", util.dns_name("v", 3.0))
      assert.are.equal("a-b", util.dns_name("\0a\200\255B-"))
      assert.are.equal("x-9", util.dns_name("-9-"))
      assert.are.equal("x-" .. ("1"):rep(52) .. "-" .. util.fnv1a("x-" .. ("1"):rep(70)), util.dns_name(("1"):rep(70)))
      assert.are.equal(("a"):rep(54) .. "-b", util.dns_name(("a"):rep(54) .. "-b" .. ("-"):rep(20)))
      assert.are.equal(("a"):rep(53) .. "-" .. util.fnv1a(("a"):rep(53) .. "-" .. ("b"):rep(10)),
        util.dns_name(("a"):rep(53), "", "", ("b"):rep(10)))
    end)

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

describe("enroller.util (URIs, addresses, ports)", function()
  local util = require("enroller.util")
  local h = require("helpers")

  it("builds URIs", function()
    assert.are.equal("http://10.0.0.2:3000", util.uri("http", "10.0.0.2", 3000))
    assert.are.equal("https://h:443/a/b", util.uri("https", "h", 443, "a/b"))
    assert.are.equal("http://[fd00::2]:80/x", util.uri("http", "fd00::2", 80, "/x"))
    assert.matches("%[util%] uri: argument 3: expected a port 1%-65535, got 0",
      h.error_of(util.uri, "http", "h", 0))
    assert.matches("%[util%] uri: argument 1", h.error_of(util.uri, "ht tp", "h", 1))
  end)

  it("finds the address on the labelled or only network", function()
    assert.are.equal("10.213.181.2", util.address(h.container("inspect_rabbitmq.json")))
    local ip, why = util.address(h.container("inspect_two_nets.json"))
    assert.is_nil(ip)
    assert.are.equal("container has 2 networks; name one", why)
    assert.are.equal("10.214.7.2", util.address(h.container("inspect_two_nets.json"), "enroller-pub"))
  end)

  it("lists exposed TCP ports", function()
    assert.are.same({ 5672, 15672 }, util.tcp_ports(h.container("inspect_rabbitmq.json")))
    assert.are.same({ 8080, 8443 }, util.tcp_ports(h.container("inspect_published.json")))
  end)

  it("reads truthy label values", function()
    for _, v in ipairs({ "true", "TRUE", "1", "yes", "on" }) do assert.is_true(util.is_true(v)) end
    for _, v in ipairs({ "false", "0", "", "no" }) do assert.is_false(util.is_true(v)) end
    assert.is_false(util.is_true(nil))
  end)
end)

describe("enroller.core.json_decode", function()
  local core = require("enroller.core")
  it("decodes JSON into tables; null is nil", function()
    assert.are.same({ a = { 1, 2, "x" }, b = true }, core.json_decode('{"a": [1, 2, "x"], "b": true, "c": null}'))
  end)
  it("returns nil and a message on bad text", function()
    local v, err = core.json_decode("{")
    assert.is_nil(v)
    assert.matches("^json: 1:1: ", err)
    v, err = core.json_decode(("["):rep(100) .. ("]"):rep(100))
    assert.is_nil(v)
    assert.are.equal("json: nested deeper than 32", err)
  end)
end)
