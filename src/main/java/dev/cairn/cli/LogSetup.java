package dev.cairn.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ConfiguratorRank;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.encoder.Encoder;
import ch.qos.logback.core.spi.ContextAwareBase;
import org.slf4j.LoggerFactory;

import java.util.Locale;

/**
 * How Cairn logs, set up in code rather than by logback.xml: reading and interpreting the XML took ~100 ms of
 * every start (bench/ANALYSIS.md, session 11). Logback finds this class as a service and uses it instead of any
 * file. Three system properties choose: {@code cairn.log.format} (TEXT, one line an event, or JSON, one object a
 * line), {@code cairn.log.level} (the root level, INFO) and {@code cairn.access.level} (the access log's, INFO;
 * OFF turns it off). Logging may start before the configuration is read (Jetty's classes log, and they load
 * early, see JettyPreparation); {@link #apply} then sets it up again from the properties as they are now.
 */
@ConfiguratorRank(ConfiguratorRank.CUSTOM_HIGH_PRIORITY)
public final class LogSetup extends ContextAwareBase implements Configurator {
    static final String TEXT_PATTERN = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level %logger{0} - %msg%n%ex";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        configureFromProperties(context);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    /** Sets logging up again from the system properties as they are now. */
    static void apply() {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.reset();
            configureFromProperties(context);
        }
    }

    private static void configureFromProperties(LoggerContext context) {
        boolean json = System.getProperty("cairn.log.format", "TEXT").toUpperCase(Locale.ROOT).equals("JSON");
        ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
        console.setContext(context);
        console.setName(json ? "JSON" : "TEXT");
        console.setEncoder(json ? jsonEncoder(context) : textEncoder(context));
        console.start();
        Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.toLevel(System.getProperty("cairn.log.level"), Level.INFO));
        root.addAppender(console);
        context.getLogger("org.eclipse.jetty").setLevel(Level.WARN);
        context.getLogger("com.zaxxer.hikari").setLevel(Level.WARN);
        context.getLogger("cairn.access").setLevel(Level.toLevel(System.getProperty("cairn.access.level"), Level.INFO));
    }

    private static Encoder<ILoggingEvent> textEncoder(LoggerContext context) {
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(TEXT_PATTERN);
        encoder.start();
        return encoder;
    }

    private static Encoder<ILoggingEvent> jsonEncoder(LoggerContext context) {
        JsonEncoder encoder = new JsonEncoder();
        encoder.setContext(context);
        encoder.setWithSequenceNumber(false);
        encoder.setWithNanoseconds(false);
        encoder.start();
        return encoder;
    }
}
