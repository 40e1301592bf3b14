-- rules/grafana.lua, rules/prometheus.lua and rules/http.lua against
-- recorded inspect documents (image and labels edited where needed).
local h = require("helpers")
local schema = require("enroller.schema")

local function valid(out)
  for _, a in ipairs(out) do assert.is_true(schema.validate_resource(a)) end
  return out
end

-- inspect_rabbitmq.json: network enroller-test, 10.213.181.2, ports 5672, 15672
local function rabbit_as(image, lbls)
  return h.container_edited("inspect_rabbitmq.json", function(doc)
    doc.Config.Image = image
    doc.Config.Labels = lbls or {}
  end)
end

for _, case in ipairs({
  { file = "rules/grafana.lua", name = "grafana", port = 3000,
    yes = { "grafana/grafana:11.0.0", "grafana/grafana-oss", "docker.io/grafana/grafana-enterprise:10.4" },
    no = { "grafana", "someone/grafana:1", "grafana/loki:3", "rabbitmq:3-management" } },
  { file = "rules/prometheus.lua", name = "prometheus", port = 9090,
    yes = { "prom/prometheus:v2.53.0", "prom/prometheus", "quay.io/prometheus/prometheus:latest" },
    no = { "prometheus", "prom/alertmanager", "bitnami/prometheus" } },
}) do
  describe(case.file, function()
    local rule = h.rule(case.file)

    for _, image in ipairs(case.yes) do
      it("matches " .. image, function() assert.is_true((rule.match(rabbit_as(image)))) end)
    end
    for _, image in ipairs(case.no) do
      it("does not match " .. image, function() assert.is_false((rule.match(rabbit_as(image)))) end)
    end
    it("leaves teleport.dev/ignore=true alone", function()
      local ok, why = rule.match(rabbit_as(case.yes[1], { ["teleport.dev/ignore"] = "true" }))
      assert.is_false(ok)
      assert.are.equal("teleport.dev/ignore=true", why)
    end)

    it("makes one app on the default port", function()
      assert.are.same({ {
        name = case.name .. "-rabbitmq",
        uri = ("http://10.213.181.2:%d"):format(case.port),
        description = ("%s of container rabbitmq"):format(case.name == "grafana" and "Grafana" or "Prometheus"),
        labels = {
          ["container.name"] = "rabbitmq",
          ["container.image"] = case.yes[1],
          ["container.id"] = "0c661a22bc6e",
          ["container.hostname"] = "rabbit-1",
        },
      } }, valid(rule.apps(rabbit_as(case.yes[1]))))
    end)

    it("takes the port from enroller.port and the network from enroller.network", function()
      local c = h.container_edited("inspect_two_nets.json", function(doc)
        doc.Config.Image = case.yes[1]
        doc.Config.Labels = { ["enroller.port"] = "8000", ["enroller.network"] = "enroller-pub" }
      end)
      assert.are.equal("http://10.214.7.2:8000", valid(rule.apps(c))[1].uri)
      assert.are.same({}, rule.apps(h.container_edited("inspect_two_nets.json", function(doc)
        doc.Config.Image = case.yes[1]
      end)))
    end)

    it("rejects a bad enroller.port", function()
      assert.are.equal("label enroller.port: 'web' is not a port number",
        h.error_of(rule.apps, rabbit_as(case.yes[1], { ["enroller.port"] = "web" })))
    end)
  end)
end

describe("rules/http.lua", function()
  local rule = h.rule("rules/http.lua")
  -- inspect_published.json: 8080/tcp, 8443/tcp, 9090/udp on enroller-pub (10.214.7.3)
  local function published(lbls, exposed)
    return h.container_edited("inspect_published.json", function(doc)
      doc.Config.Labels = lbls
      if exposed then
        doc.Config.ExposedPorts = exposed
        doc.NetworkSettings.Ports = {}
        doc.HostConfig.PortBindings = {}
      end
    end)
  end

  it("is opt-in with enroller.http=true, priority 50", function()
    assert.are.equal(50, rule.priority)
    assert.is_false((rule.match(published({}))))
    assert.is_false((rule.match(published({ ["enroller.http"] = "false" }))))
    assert.is_true((rule.match(published({ ["enroller.http"] = "true" }))))
    assert.is_false((rule.match(published({ ["enroller.http"] = "true", ["teleport.dev/ignore"] = "true" }))))
  end)

  it("uses the only TCP port", function()
    local c = published({ ["enroller.http"] = "true" }, { ["5000/tcp"] = {}, ["53/udp"] = {} })
    assert.are.same({ {
      name = "published",
      uri = "http://10.214.7.3:5000",
      description = "web app of container published (enroller-tiny:latest)",
      labels = {
        ["container.name"] = "published",
        ["container.image"] = "enroller-tiny:latest",
        ["container.id"] = "8df8da278800",
        ["container.hostname"] = "8df8da278800",
      },
    } }, valid(rule.apps(c)))
  end)

  it("uses the only HTTP-ish port among several", function()
    local c = published({ ["enroller.http"] = "true" }, { ["8080/tcp"] = {}, ["5432/tcp"] = {} })
    assert.are.equal("http://10.214.7.3:8080", rule.apps(c)[1].uri)
  end)

  it("honours enroller.http.port, .scheme, .path and .name", function()
    local c = published({ ["enroller.http"] = "true", ["enroller.http.port"] = "8443",
                          ["enroller.http.path"] = "/admin", ["enroller.http.name"] = "admin" })
    local a = valid(rule.apps(c))[1]
    assert.are.equal("admin", a.name)
    assert.are.equal("https://10.214.7.3:8443/admin", a.uri)
    c = published({ ["enroller.http"] = "true", ["enroller.http.port"] = "8443", ["enroller.http.scheme"] = "http" })
    assert.are.equal("http://10.214.7.3:8443", rule.apps(c)[1].uri)
  end)

  it("asks for enroller.http.port when the choice is ambiguous", function()
    assert.are.equal("container exposes TCP ports 8080, 8443; set the label enroller.http.port",
      h.error_of(rule.apps, published({ ["enroller.http"] = "true" })))
    assert.are.equal("container exposes no TCP port; set the label enroller.http.port",
      h.error_of(rule.apps, published({ ["enroller.http"] = "true" }, { ["53/udp"] = {} })))
  end)
end)
