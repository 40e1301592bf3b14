local enroller = require("enroller")
return enroller.rule {
  name = "find", description = "d", match = function(c) return true end,
  apps = function(c)
    return string.find(('a'):rep(1e5), '.-.-.-.-b')
  end,
}
