local enroller = require("enroller")
return enroller.rule {
  name = "rabbit", description = "d", match = function(c) return true end,
  apps = function(c) return { { name = "rabbitmq-" .. c.name, uri = ("http://%s:15672"):format(c:ip()) } } end,
}
