-- grafana.lua: one Teleport app per Grafana container (images grafana/grafana,
-- grafana/grafana-oss, grafana/grafana-enterprise, any tag, from Docker Hub).
--
-- The app is http://<container ip>:3000 on the network named by the label
-- enroller.network or the container's only network; its name is
-- grafana-<container name>.  A container labelled teleport.dev/ignore=true
-- is left alone; one with teleport.dev/ labels is taken by labels.lua
-- (priority 100) instead.  Grafana's port can be moved with the label
-- enroller.port (GF_SERVER_HTTP_PORT is not read: rules see labels, not env).

local web = require("enroller.web")

return web.image_rule {
  name = "grafana",
  description = "Grafana web UI of grafana/grafana* containers",
  title = "Grafana",
  images = { "grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise" },
  port = 3000,
}
