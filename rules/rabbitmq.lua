-- rabbitmq.lua: one Teleport app per RabbitMQ container that runs the
-- management plugin (image rabbitmq:<tag> where the tag is "management" or
-- ends in "-management", e.g. rabbitmq:3-management).
--
-- The app points at the management UI, http://<container ip>:15672, on the
-- network named by the container label `enroller.network`, or on the
-- container's only network.  No usable address: no app (and a log line).
-- The app name is rabbitmq-<container name>, made DNS-safe and stable.
-- teleport.dev/ignore=true leaves the container alone; teleport.dev/ labels
-- hand it to labels.lua (priority 100 beats this rule's 0).

local enroller = require("enroller")
local util = require("enroller.util")
local labels = require("enroller.labels")

local UI_PORT = 15672

-- Image names the official image goes by: the pre-filter (checked in C,
-- so other containers never reach this file's Lua) and match() read the
-- same list.
local IMAGE_NAMES = { "rabbitmq", "library/rabbitmq", "docker.io/library/rabbitmq" }
local IMAGES = {}
for _, name in ipairs(IMAGE_NAMES) do IMAGES[name] = true end

local function is_management_tag(tag)
  return tag ~= nil and (tag == "management" or tag:sub(-#"-management") == "-management")
end

return enroller.rule {
  name = "rabbitmq",
  description = "RabbitMQ management UI of rabbitmq:*-management containers",
  match_image = IMAGE_NAMES,

  match = function(c)
    local image = c.image_name
    if not IMAGES[image] then return false, "image " .. image .. " is not rabbitmq" end
    local ignored, why = util.ignored(c)
    if ignored then return false, why end
    if not is_management_tag(c.tag) then
      return false, ("tag %s has no management plugin"):format(tostring(c.tag))
    end
    return true, "image " .. c.image
  end,

  apps = function(c)
    local ip = util.app_address(c)
    if not ip then return {} end
    return {
      {
        name = util.dns_name("rabbitmq", c.name),
        uri = ("http://%s:%d"):format(ip, UI_PORT),
        description = ("RabbitMQ management UI of container %s"):format(c.name),
        labels = labels.container_identity(c),
      },
    }
  end,
}
