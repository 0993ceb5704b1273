#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"stowage: a container image registry that runs as a cluster"};
  app.require_subcommand(1);
  stowage::cli::add_serve(app);
  stowage::cli::add_run(app);
  stowage::cli::add_dev(app);
  stowage::cli::add_up(app);
  // further subcommands register here
  CLI11_PARSE(app, argc, argv);
  return 0;
}
