owner "h"
reconcile { grace = 0, lease = 0, confirm = 0 }
