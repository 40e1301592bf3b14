local enroller = require("enroller")

return enroller.rule {
  name = "nodesc",
  match = function(c) return true end,
  apps = function(c) return { { name = "web-" .. c.name, uri = "http://web:8080" } } end,
}
