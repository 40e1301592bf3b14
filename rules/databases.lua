-- databases.lua: one Teleport database per container of the official
-- postgres, mysql, mariadb, mongo and redis images (Docker Hub, any tag).
--
--   image     protocol  uri                        name
--   postgres  postgres  <ip>:5432                  postgres-<container>
--   mysql     mysql     <ip>:3306                  mysql-<container>
--   mariadb   mysql     <ip>:3306                  mariadb-<container>
--   mongo     mongodb   mongodb://<ip>:27017       mongo-<container>
--   redis     redis     <ip>:6379                  redis-<container>
--
-- The address is on the network named by the label enroller.network or the
-- container's only network; the port can be moved with the label
-- enroller.port.  The database's labels are the container identity
-- (container.name/image/id/hostname) plus db.engine=<image>.  A container
-- labelled teleport.dev/ignore=true is left alone; one with teleport.dev/
-- labels is taken by labels.lua (priority 100) instead.  Teleport's
-- Database Service also needs a database user and TLS set up in the
-- database itself: see examples/databases/README.md.

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")

local IMAGES = {
  postgres = { protocol = "postgres", port = 5432 },
  mysql = { protocol = "mysql", port = 3306 },
  mariadb = { protocol = "mysql", port = 3306 },   -- Teleport speaks MySQL's protocol to MariaDB
  mongo = { protocol = "mongodb", port = 27017, scheme = "mongodb" },
  redis = { protocol = "redis", port = 6379 },
}

-- Every name an official image goes by ("postgres", "library/postgres",
-- "docker.io/postgres", "docker.io/library/postgres") -> its short name.
-- The same names are the pre-filter, checked in C before match().
local SHORT, NAMES = {}, {}
for _, image in ipairs({ "postgres", "mysql", "mariadb", "mongo", "redis" }) do
  for _, prefix in ipairs({ "", "library/", "docker.io/", "docker.io/library/" }) do
    SHORT[prefix .. image] = image
    NAMES[#NAMES + 1] = prefix .. image
  end
end

local function image_of(c)
  local name = SHORT[c.image_name]
  return name, IMAGES[name]
end

return enroller.rule {
  name = "databases",
  description = "databases of the official postgres, mysql, mariadb, mongo and redis images",
  match_image = NAMES,

  match = function(c)
    local name, spec = image_of(c)
    if not spec then
      return false, ("image %s is not postgres, mysql, mariadb, mongo or redis"):format(c.image_name)
    end
    local ignored, why = util.ignored(c)
    if ignored then return false, why end
    return true, "image " .. name
  end,

  apps = function(c)
    local image, spec = image_of(c)
    local ip = util.app_address(c)
    if not ip then return {} end
    local port = math.tointeger(tonumber(c:label("enroller.port", spec.port)))
    if port == nil or port < 1 or port > 65535 then
      error(("label enroller.port: '%s' is not a port number"):format(c:label("enroller.port")), 0)
    end
    local uri = ("%s:%d"):format(ip, port)
    if spec.scheme then uri = spec.scheme .. "://" .. uri end
    return {
      {
        kind = "db",
        name = util.dns_name(image, c.name),
        protocol = spec.protocol,
        uri = uri,
        description = ("%s database of container %s"):format(image, c.name),
        labels = labels.merge(labels.container_identity(c), { ["db.engine"] = image }),
      },
    }
  end,
}
