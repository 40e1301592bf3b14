local enroller = require("enroller")

return enroller.rule {
  name = "badfield",
  description = "an app whose uri is a number",
  match = function(c) return true end,
  apps = function(c) return { { name = "web-" .. c.name, uri = 8080 } } end,
}
