package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** log.format and log.access, as the logging set up in code (no logback.xml) applies them. */
class LogSetupTest {
    private final PrintStream stdout = System.out;

    @AfterEach
    void restore() {
        System.setOut(stdout);
        System.clearProperty("cairn.log.format");
        System.clearProperty("cairn.access.level");
        LogSetup.apply();
    }

    private static String logged(Runnable logging) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        LogSetup.apply(); // the console appender writes to System.out as it is when it starts
        logging.run();
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void textByDefaultJsonWhenAskedAndTheAccessLogCanBeTurnedOff() throws Exception {
        Logger log = LoggerFactory.getLogger(LogSetupTest.class);
        Logger access = LoggerFactory.getLogger("cairn.access");

        String text = logged(() -> log.info("hello {}", "text"));
        assertThat(text).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}(Z|[+-]\\d\\d:\\d\\d) INFO  LogSetupTest - hello text\\R");

        System.setProperty("cairn.log.format", "JSON");
        String json = logged(() -> log.warn("hello {}", "json"));
        JsonNode event = new ObjectMapper().readTree(json.strip());
        assertThat(event.get("level").asText()).isEqualTo("WARN");
        assertThat(event.get("loggerName").asText()).isEqualTo(LogSetupTest.class.getName());
        assertThat(event.has("sequenceNumber")).as("no sequence numbers, as before").isFalse();
        assertThat(json.strip().lines().count()).as("one object a line").isEqualTo(1);

        System.setProperty("cairn.access.level", "OFF");
        assertThat(logged(() -> access.info("GET manifest 200"))).isEmpty();
        System.setProperty("cairn.access.level", "INFO");
        assertThat(logged(() -> access.info("GET manifest 200"))).contains("GET manifest 200");
        assertThat(logged(() -> LoggerFactory.getLogger("org.eclipse.jetty.server.Server").info("jetty chatter"))).as("Jetty below WARN").isEmpty();
    }
}
