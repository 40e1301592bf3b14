-- rules/databases.lua: the official postgres, mysql, mariadb, mongo and redis
-- images, against a recorded docker inspect (rabbitmq's, re-imaged).
local h = require("helpers")
local schema = require("enroller.schema")

describe("rules/databases.lua", function()
  local rule = h.rule("rules/databases.lua")

  local function with_image(image, lbls)
    return h.container_edited("inspect_rabbitmq.json", function(doc)
      doc.Config.Image = image
      if lbls then doc.Config.Labels = lbls end
    end)
  end

  local identity = function(image)
    return {
      ["container.name"] = "rabbitmq",
      ["container.image"] = image,
      ["container.id"] = "0c661a22bc6e",
      ["container.hostname"] = "rabbit-1",
    }
  end

  it("is a rule named databases", function()
    assert.is_true(require("enroller").is_rule(rule))
    assert.are.equal("databases", rule.name)
  end)

  describe("match", function()
    local cases = {
      { "postgres:16", true }, { "postgres", true }, { "docker.io/library/postgres:16-alpine", true },
      { "mysql:8", true }, { "mariadb:11", true }, { "mongo:7", true }, { "redis:7-alpine", true },
      { "bitnami/postgresql:16", false }, { "someone/redis:7", false }, { "postgres-exporter:1", false },
      { "rabbitmq:3-management", false },
    }
    for _, case in ipairs(cases) do
      it(("%s -> %s"):format(case[1], tostring(case[2])), function()
        assert.are.equal(case[2], (rule.match(with_image(case[1]))))
      end)
    end

    it("leaves teleport.dev/ignore=true alone", function()
      local ok, why = rule.match(with_image("postgres:16", { ["teleport.dev/ignore"] = "true" }))
      assert.is_false(ok)
      assert.are.equal("teleport.dev/ignore=true", why)
    end)
  end)

  describe("databases", function()
    local cases = {
      { "postgres:16", "postgres-rabbitmq", "postgres", "10.213.181.2:5432", "postgres" },
      { "mysql:8", "mysql-rabbitmq", "mysql", "10.213.181.2:3306", "mysql" },
      { "mariadb:11", "mariadb-rabbitmq", "mysql", "10.213.181.2:3306", "mariadb" },
      { "mongo:7", "mongo-rabbitmq", "mongodb", "mongodb://10.213.181.2:27017", "mongo" },
      { "redis:7", "redis-rabbitmq", "redis", "10.213.181.2:6379", "redis" },
    }
    for _, case in ipairs(cases) do
      it(case[1] .. " -> " .. case[3] .. " at " .. case[4], function()
        local dbs = rule.apps(with_image(case[1]))
        local want_labels = identity(case[1])
        want_labels["db.engine"] = case[5]
        assert.are.same({ {
          kind = "db",
          name = case[2],
          protocol = case[3],
          uri = case[4],
          description = case[5] .. " database of container rabbitmq",
          labels = want_labels,
        } }, dbs)
        assert.is_true(schema.validate_resource(dbs[1]))
      end)
    end

    it("takes the port from enroller.port", function()
      local dbs = rule.apps(with_image("postgres:16", { ["enroller.port"] = "6432" }))
      assert.are.equal("10.213.181.2:6432", dbs[1].uri)
    end)

    it("a bad enroller.port is one line naming the label", function()
      local err = h.error_of(rule.apps, with_image("postgres:16", { ["enroller.port"] = "pg" }))
      assert.are.equal("label enroller.port: 'pg' is not a port number", err)
    end)
  end)
end)
