// Runs contrib/polkit/50-coffer-guard.rules under a stand-in for polkitd's
// JavaScript API (CI has no polkitd): polkit.spawn runs the real coffer
// binary, pointed at the test's guard socket. Prints the rule's result for
// one action: node polkit_stub.js RULES COFFER SOCKET ACTION_ID REMOVABLE
"use strict";
const fs = require("fs");
const { execFileSync } = require("child_process");
const [rules, coffer, socket, actionId, removable] = process.argv.slice(2);
const polkit = {
  Result: { NO: "no", YES: "yes", NOT_HANDLED: "not_handled", AUTH_ADMIN: "auth_admin" },
  rules: [],
  addRule(fn) { this.rules.push(fn); },
  log(msg) { console.error("polkit log: " + msg); },
  // As polkitd's: throws unless the program exits 0.
  spawn(argv) {
    if (argv[0] !== "/usr/local/bin/coffer") throw new Error("unexpected program " + argv[0]);
    return execFileSync(coffer, [...argv.slice(1), "--socket", socket], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  },
};
new Function("polkit", fs.readFileSync(rules, "utf8"))(polkit);
const action = { id: actionId, lookup: (k) => (k === "drive.removable" ? removable : undefined) };
const subject = { user: "teacher" };
let result = polkit.Result.NOT_HANDLED;
for (const rule of polkit.rules) {
  const r = rule(action, subject);
  if (r !== polkit.Result.NOT_HANDLED && r !== undefined) { result = r; break; }
}
console.log(result);
