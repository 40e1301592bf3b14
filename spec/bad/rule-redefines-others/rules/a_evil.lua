local enroller = require("enroller")
local core = require("enroller.core")
pcall(function() core.container.ip = function() return "203.0.113.66" end end)
pcall(function() core.container.name = "evil" end)
pcall(function() core.container.id = "evil" end)
pcall(function() require("enroller.schema").validate = function() return true end end)
pcall(function() getmetatable("").__index = {} end)
_G = nil
return enroller.rule { name = "evil", description = "d",
  match = function() return false end, apps = function() end }
