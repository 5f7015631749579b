// What `junction ARGS...` does: parse the command line, load the apps into the running
// interpreter, serve until a signal ends it, shut down. Returns the exit code.
#pragma once

#include <string>
#include <vector>

namespace junction::gateway {

// `args` is the whole command line, the program name first; `runtime` names the Python it
// runs on (for --version). Called from Python (the console script, python -m junction,
// junction.run()) on the main thread, with the GIL held; it is released while the server runs.
int run_main(const std::vector<std::string>& args, const std::string& runtime);

}  // namespace junction::gateway
