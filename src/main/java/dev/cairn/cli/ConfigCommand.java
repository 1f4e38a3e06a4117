package dev.cairn.cli;

import dev.cairn.config.ConfigException;
import dev.cairn.config.ConfigLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** {@code cairn config check}: validates a configuration and prints what it selects. */
@Command(name = "config", mixinStandardHelpOptions = true, description = "Inspect configuration.",
        subcommands = ConfigCommand.Check.class)
final class ConfigCommand implements Runnable {
    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Validate the configuration (file, environment, flags) and print the effective values.")
    static final class Check implements Callable<Integer> {
        @Mixin
        ConfigOptions options;

        @Override
        public Integer call() {
            try {
                ConfigLoader.Loaded loaded = options.load();
                System.out.println("configuration is valid");
                System.out.println("mode: " + loaded.config().mode());
                loaded.config().describe(loaded.sources()).forEach(System.out::println);
                return 0;
            } catch (ConfigException e) {
                System.err.println("invalid configuration: " + e.getMessage());
                return 2;
            }
        }
    }
}
