// torpor_abort replaces AssemblyScript's abort (the build passes
// --use abort=...), which would otherwise import env.abort, a function no
// torpor host provides. A throw ends here: the message goes to the host
// log, then the instance traps, which fails the event.

import { log, LogLevel } from "./index";

export function torpor_abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = message == null ? "abort" : <string>message;
  if (fileName != null) text += " (" + <string>fileName + ":" + line.toString() + ":" + column.toString() + ")";
  log(LogLevel.Error, text);
  unreachable();
}
