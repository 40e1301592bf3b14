-- The enroller.container userdata, over recorded docker inspect fixtures.
local core = require("enroller.core")
local h = require("helpers")

describe("enroller.container", function()
  local rabbit = h.container("inspect_rabbitmq.json")

  describe("fields", function()
    it("reads the identity of the container", function()
      assert.are.equal("0c661a22bc6e9e29e1f7eeedb4d5901679661809b8a99d809cbfa0ceca584c88", rabbit.id)
      assert.are.equal("rabbitmq", rabbit.name)
      assert.are.equal("rabbitmq:3-management", rabbit.image)
      assert.are.equal("rabbitmq", rabbit.image_name)
      assert.are.equal("3-management", rabbit.tag)
      assert.are.equal("sha256:30469ec4e298a774d4f1229cf003ac779778c80c46ec75546f367c5bd6ab32b1", rabbit.image_id)
      assert.are.equal("rabbit-1", rabbit.hostname)
      assert.are.equal("running", rabbit.state)
      assert.is_nil(rabbit.health)
      assert.are.equal("container rabbitmq (0c661a22bc6e)", tostring(rabbit))
    end)

    it("reads times as unix seconds", function()
      assert.are.equal(1795530096, rabbit.created) -- 2026-11-24T14:21:36.05Z
      assert.are.equal(1795530096, rabbit.started)
      assert.are.equal(0, h.container("inspect_created_only.json").started)
    end)

    it("reads labels as a fresh table each time", function()
      local l = rabbit.labels
      assert.are.same({ app = "rabbitmq", team = "infra" }, l)
      l.app = "changed"
      assert.are.equal("rabbitmq", rabbit.labels.app)
    end)

    it("keeps odd labels byte for byte", function()
      local c = h.container("inspect_odd_labels.json")
      local raw = require("cjson").decode(h.read(h.FIXTURES .. "inspect_odd_labels.json")).Config.Labels
      assert.are.same(raw, c.labels)
    end)

    it("reads networks", function()
      assert.are.same({ ["enroller-test"] = { ip = "10.213.181.2" } }, rabbit.networks)
      assert.are.same({ ["enroller-pub"] = { ip = "10.214.7.2" }, ["enroller-test"] = { ip = "10.213.181.4" } },
        h.container("inspect_two_nets.json").networks)
      assert.are.same({ none = {} }, h.container("inspect_no_network.json").networks)
    end)

    it("reads exposed and published ports, sorted", function()
      assert.are.same({ { port = 5672, proto = "tcp" }, { port = 15672, proto = "tcp" } }, rabbit.ports)
      assert.are.same({
        { port = 8080, proto = "tcp", host_port = 18080, host_ip = "127.0.0.1" },
        { port = 8443, proto = "tcp", host_port = 18443, host_ip = "127.0.0.1" },
        { port = 9090, proto = "udp" },
      }, h.container("inspect_published.json").ports)
    end)

    it("reads health", function()
      assert.are.equal("healthy", h.container("inspect_healthy.json").health)
    end)

    local images = {
      { "rabbitmq", "rabbitmq", "latest" },
      { "rabbitmq:3-management", "rabbitmq", "3-management" },
      { "localhost:5000/team/rabbitmq:3.13-management", "localhost:5000/team/rabbitmq", "3.13-management" },
      { "localhost:5000/rabbitmq", "localhost:5000/rabbitmq", "latest" },
      { "rabbitmq@sha256:abcd", "rabbitmq", nil },
      { "rabbitmq:3@sha256:abcd", "rabbitmq", "3" },
    }
    for _, case in ipairs(images) do
      it(("splits image %s"):format(case[1]), function()
        local c = h.container_edited("inspect_rabbitmq.json", function(doc) doc.Config.Image = case[1] end)
        assert.are.equal(case[2], c.image_name)
        assert.are.equal(case[3], c.tag)
      end)
    end
  end)

  describe("methods", function()
    it("label(k, default)", function()
      assert.are.equal("infra", rabbit:label("team"))
      assert.is_nil(rabbit:label("nope"))
      assert.are.equal("dflt", rabbit:label("nope", "dflt"))
    end)

    it("has_label(k)", function()
      assert.is_true(rabbit:has_label("app"))
      assert.is_false(rabbit:has_label("nope"))
    end)

    it("ip() on the only network", function()
      assert.are.equal("10.213.181.2", rabbit:ip())
      assert.are.equal("10.213.181.2", rabbit:ip("enroller-test"))
    end)

    it("ip() returns nil and why", function()
      local two = h.container("inspect_two_nets.json")
      assert.are.same({ nil, "container has 2 networks; name one" }, { two:ip() })
      assert.are.equal("10.214.7.2", two:ip("enroller-pub"))
      assert.are.same({ nil, "container is not on network 'other'" }, { rabbit:ip("other") })
      assert.are.same({ nil, "container has no IPv4 address on network 'none'" },
        { h.container("inspect_no_network.json"):ip() })
    end)
  end)

  describe("errors", function()
    it("raises on unknown fields (typos)", function()
      assert.matches("container has no field 'lables'$", h.error_of(function() return rabbit.lables end))
    end)

    it("is read-only", function()
      assert.matches("container is read%-only %(field 'name'%)$", h.error_of(function() rabbit.name = "x" end))
      assert.are.equal("locked", getmetatable(rabbit))
    end)

    it("checks argument types", function()
      assert.matches("bad argument #1 to 'label' %(string expected, got no value%)",
        h.error_of(function() return rabbit:label() end))
      assert.matches("bad argument #1 to 'ip' %(string expected, got table%)",
        h.error_of(function() return rabbit:ip({}) end))
      assert.matches("enroller.container expected, got table",
        h.error_of(function() return rabbit.label({}, "x") end))
    end)

    it("container_from_inspect returns nil and a message on bad JSON", function()
      local c, err = core.container_from_inspect("{")
      assert.is_nil(c)
      assert.is_string(err)
      c, err = core.container_from_inspect("{}")
      assert.is_nil(c)
      assert.is_string(err)
    end)
  end)
end)
