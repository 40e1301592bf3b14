-- rules/rabbitmq.lua against recorded docker inspect fixtures.
local h = require("helpers")
local schema = require("enroller.schema")

describe("rules/rabbitmq.lua", function()
  local rule = h.rule("rules/rabbitmq.lua")
  local rabbit = h.container("inspect_rabbitmq.json")

  local function with_image(image, extra)
    return h.container_edited("inspect_rabbitmq.json", function(doc)
      doc.Config.Image = image
      if extra then extra(doc) end
    end)
  end

  it("is a rule named rabbitmq", function()
    assert.is_true(require("enroller").is_rule(rule))
    assert.are.equal("rabbitmq", rule.name)
  end)

  describe("match", function()
    local cases = {
      { "rabbitmq:3-management", true },
      { "rabbitmq:3.13-management", true },
      { "rabbitmq:management", true },
      { "docker.io/library/rabbitmq:4-management", true },
      { "rabbitmq:3", false },
      { "rabbitmq", false },
      { "rabbitmq:3-management-alpine", false },
      { "someone/rabbitmq:3-management", false },
      { "rabbitmq-exporter:3-management", false },
      { "enroller-tiny:latest", false },
    }
    for _, case in ipairs(cases) do
      it(("%s -> %s"):format(case[1], tostring(case[2])), function()
        assert.are.equal(case[2], rule.match(with_image(case[1])))
      end)
    end

    it("ignores containers of other images (recorded)", function()
      assert.is_false(rule.match(h.container("inspect_two_nets.json")))
      assert.is_true(rule.match(rabbit))
    end)
  end)

  describe("apps", function()
    it("publishes the management UI of the recorded container", function()
      local apps = rule.apps(rabbit)
      assert.are.same({ {
        name = "rabbitmq-rabbitmq",
        uri = "http://10.213.181.2:15672",
        description = "RabbitMQ management UI of container rabbitmq",
        labels = {
          ["container.name"] = "rabbitmq",
          ["container.image"] = "rabbitmq:3-management",
          ["container.id"] = "0c661a22bc6e",
          ["container.hostname"] = "rabbit-1",
        },
      } }, apps)
      for _, app in ipairs(apps) do
        assert.is_true(schema.validate(schema.app, app))
      end
    end)

    it("picks the network named by the enroller.network label", function()
      local c = h.container_edited("inspect_two_nets.json", function(doc)
        doc.Config.Image = "rabbitmq:3-management"
        doc.Config.Labels = { ["enroller.network"] = "enroller-pub" }
      end)
      assert.are.equal("http://10.214.7.2:15672", rule.apps(c)[1].uri)
    end)

    it("makes no app without a usable address", function()
      local two = h.container_edited("inspect_two_nets.json", function(doc) doc.Config.Image = "rabbitmq:management" end)
      assert.are.same({}, rule.apps(two))
      local none = h.container_edited("inspect_no_network.json", function(doc) doc.Config.Image = "rabbitmq:management" end)
      assert.are.same({}, rule.apps(none))
      local wrong = with_image("rabbitmq:3-management", function(doc)
        doc.Config.Labels = { ["enroller.network"] = "elsewhere" }
      end)
      assert.are.same({}, rule.apps(wrong))
    end)

    it("builds stable DNS-safe names from odd container names", function()
      local c = with_image("rabbitmq:3-management", function(doc) doc.Name = "/My_Rabbit.Prod" end)
      assert.are.equal("rabbitmq-my-rabbit-prod", rule.apps(c)[1].name)
      local long = with_image("rabbitmq:3-management", function(doc) doc.Name = "/" .. ("q"):rep(80) end)
      local name = rule.apps(long)[1].name
      assert.are.equal(63, #name)
      assert.are.equal(name, rule.apps(long)[1].name)
      assert.is_true(schema.is_dns_label(name))
    end)
  end)
end)
