local enroller = require("enroller")

return enroller.rule {
  name = "broken",
  match = function(c) return true end
  apps = function(c) return {} end,
}
