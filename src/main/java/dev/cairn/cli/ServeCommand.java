package dev.cairn.cli;

import dev.cairn.Cairn;
import dev.cairn.config.CairnConfig;
import dev.cairn.config.ConfigException;
import dev.cairn.config.ConfigLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code cairn serve}: runs a node until SIGTERM or SIGINT, then drains in-flight requests and exits. */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Start a Cairn node.")
final class ServeCommand implements Callable<Integer> {
    @Mixin
    ConfigOptions options;

    @Override
    public Integer call() throws Exception {
        ConfigLoader.Loaded loaded;
        try {
            loaded = options.load();
        } catch (ConfigException e) {
            System.err.println("cairn: " + e.getMessage());
            return 2;
        }
        CairnConfig config = loaded.config();
        System.setProperty("cairn.log.format", config.logFormat().name().toUpperCase(Locale.ROOT));
        System.setProperty("cairn.access.level", config.accessLog() ? "INFO" : "OFF");
        LogSetup.apply(); // logging may have started already, with the defaults
        org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ServeCommand.class);
        log.info("Cairn starting; effective configuration:");
        config.describe(loaded.sources()).forEach(line -> log.info("  {}", line));
        log.info("mode: {}", config.mode());

        Cairn cairn = Cairn.start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("stopping: draining in-flight requests (up to {})", config.shutdownTimeout());
            try {
                cairn.close();
            } catch (Exception e) {
                log.warn("unclean stop: {}", e.getMessage());
            }
            log.info("stopped");
            stopped.countDown();
        }, "cairn-shutdown"));
        stopped.await();
        return 0;
    }
}
