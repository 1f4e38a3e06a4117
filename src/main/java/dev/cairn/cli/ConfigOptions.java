package dev.cairn.cli;

import dev.cairn.config.ConfigLoader;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** The options every command that reads the configuration shares. */
final class ConfigOptions {
    @Option(names = "--config", paramLabel = "FILE", description = "YAML configuration file.")
    Path file;

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Address to listen on (default :5000).")
    String listen;

    @Option(names = "--data", paramLabel = "DIR", description = "Data directory (default ./cairn-data).")
    Path data;

    ConfigLoader.Loaded load() {
        Map<String, String> flags = new LinkedHashMap<>();
        if (listen != null) flags.put("listen", listen);
        if (data != null) flags.put("data-dir", data.toString());
        return ConfigLoader.load(Optional.ofNullable(file), System.getenv(), flags);
    }
}
