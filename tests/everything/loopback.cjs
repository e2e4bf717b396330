// Preloaded (node --require) into server-everything, whose `app.listen(PORT)` binds every
// interface: bind the loopback interface instead, and report the port the OS chose (PORT=0).
"use strict";
const net = require("node:net");

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (["number", "string"].includes(typeof args[0]) && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  this.once("listening", () => {
    const { address, port } = this.address();
    process.stderr.write(`mcp-platform: listening on ${address}:${port}\n`);
  });
  return listen.apply(this, args);
};
