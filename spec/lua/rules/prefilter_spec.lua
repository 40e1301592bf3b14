-- The shipped rules' pre-filters (match_image, match_label) against their
-- own match(): the daemon asks match() only for a container that passes the
-- pre-filter, so every container match() accepts must pass it.  The
-- shipped pre-filters name images whole (no glob characters) and label
-- keys, so passing is list membership here.
local h = require("helpers")

local function passes(rule, c)
  local function listed(v, ok)
    if v == nil then return true end
    if type(v) == "string" then v = { v } end
    for _, x in ipairs(v) do
      if ok(x) then return true end
    end
    return false
  end
  return listed(rule.match_image, function(p)
           assert.is_nil(p:find("[%*%?%[\\]"), "a shipped pattern without globs")
           return p == c.image_name
         end)
     and listed(rule.match_label, function(k) return c:has_label(k) end)
end

local function as(image, labels)
  return h.container_edited("inspect_rabbitmq.json", function(doc)
    doc.Config.Image = image
    doc.Config.Labels = labels or {}
  end)
end

describe("shipped rules' pre-filters", function()
  local cases = {
    { "rules/rabbitmq.lua", "image", {
      "rabbitmq:3-management", "rabbitmq:management", "library/rabbitmq:3-management",
      "docker.io/library/rabbitmq:4-management" } },
    { "rules/grafana.lua", "image", {
      "grafana/grafana:11.0.0", "grafana/grafana-oss", "docker.io/grafana/grafana-enterprise:10.4" } },
    { "rules/prometheus.lua", "image", {
      "prom/prometheus:v2.53.0", "quay.io/prometheus/prometheus:latest", "docker.io/prom/prometheus" } },
    { "rules/databases.lua", "image", {
      "postgres:16", "library/postgres", "docker.io/postgres:16", "docker.io/library/postgres:16-alpine",
      "mysql:8", "mariadb:11", "docker.io/library/mongo:7", "redis:7-alpine", "library/redis" } },
    { "examples/custom-rule/rules/whoami.lua", "image", { "traefik/whoami:v1.10", "postgres:16" } },
  }
  for _, case in ipairs(cases) do
    describe(case[1], function()
      local rule = h.rule(case[1])
      it("declares match_image and no label filter", function()
        assert.is_table(rule.match_image)
        assert.is_nil(rule.match_label)
      end)
      for _, image in ipairs(case[3]) do
        it("lets " .. image .. " through to match(), which takes it", function()
          local c = as(image)
          assert.is_true((rule.match(c)))
          assert.is_true(passes(rule, c))
        end)
      end
      it("keeps other images out", function()
        for _, image in ipairs({ "enroller-tiny:latest", "someone/rabbitmq:3-management", "nginx" }) do
          assert.is_false(passes(rule, as(image)))
        end
      end)
    end)
  end

  describe("rules/labels.lua", function()
    local rule = h.rule("rules/labels.lua")
    it("lets every opt-in label through to match()", function()
      for _, lbls in ipairs({
        { ["teleport.dev/name"] = "web" }, { ["teleport.dev/port"] = "15672" },
        { ["teleport.dev/protocol"] = "http" }, { ["teleport.dev/tcp-ports"] = "5672" },
        { ["teleport.dev/db-protocol"] = "postgres", ["teleport.dev/port"] = "5672" },
        { ["teleport.dev/discovery-type"] = "app" }, { ["teleport.dev/discovery-type"] = "db" },
      }) do
        local c = as("enroller-tiny:latest", lbls)
        assert.is_true((rule.match(c)))
        assert.is_true(passes(rule, c))
      end
    end)
    it("keeps unlabelled containers out, and match() agrees", function()
      for _, lbls in ipairs({ {}, { ["teleport.dev/public-addr"] = "x.example.com" }, { app = "web" } }) do
        local c = as("enroller-tiny:latest", lbls)
        assert.is_false(passes(rule, c))
        assert.is_false((rule.match(c)))
      end
    end)
  end)

  for _, case in ipairs({ { "rules/http.lua", "enroller.http", "true" },
                          { "examples/multi-network/rules/apps-net.lua", "example.app.port", "80" } }) do
    describe(case[1], function()
      local rule = h.rule(case[1])
      it("needs the label " .. case[2], function()
        assert.is_nil(rule.match_image)
        assert.is_false(passes(rule, as("nginx", {})))
        assert.is_false((rule.match(as("nginx", {}))))
        assert.is_true(passes(rule, as("nginx", { [case[2]] = case[3] })))
      end)
    end)
  end
end)
