package dev.cairn.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code cairn}: the entry point of the jar. */
@Command(name = "cairn", mixinStandardHelpOptions = true, version = "cairn 0.1.0",
        description = "A shared build cache for container CI fleets, speaking the OCI Distribution API.",
        subcommands = {ServeCommand.class, ConfigCommand.class, GcCommand.class, StatsCommand.class, InvalidateCommand.class,
                ExportCommand.class, ImportCommand.class, WarmCommand.class, ReplicateCommand.class})
public final class CairnCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("serve")) {
            dev.cairn.http.JettyPreparation.startInBackground();
            // Only serve's command model: picocli builds every subcommand's by reflection, ~100 ms of a start.
            CommandLine serve = new CommandLine(new ServeCommand()).setCommandName("cairn serve");
            System.exit(serve.execute(java.util.Arrays.copyOfRange(args, 1, args.length)));
        }
        System.exit(new CommandLine(new CairnCommand()).execute(args));
    }
}
