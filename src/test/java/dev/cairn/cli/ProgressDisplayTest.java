package dev.cairn.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** The progress of a transfer: redrawn in place on a terminal, plain lines in a log, bytes counted as they flow. */
class ProgressDisplayTest {
    @Test
    void aLogGetsPlainLinesAndATerminalOneLineRedrawnWithABar() throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ProgressDisplay plain = new ProgressDisplay(new PrintStream(log, true, StandardCharsets.UTF_8), false, "sent");
        plain.planned(3 << 20);
        try (InputStream in = plain.metered(new ByteArrayInputStream(new byte[3 << 20]))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        plain.finished();
        String lines = log.toString(StandardCharsets.UTF_8);
        assertThat(lines).doesNotContain("\r").doesNotContain("[#");
        assertThat(lines.strip().lines().reduce((a, b) -> b).orElseThrow())
                .as("the last line: everything counted, as it flowed").startsWith("sent 3.0MiB of 3.0MiB (100%), ").contains("/s, ").endsWith(" s");

        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        ProgressDisplay terminal = new ProgressDisplay(new PrintStream(screen, true, StandardCharsets.UTF_8), true, "written");
        terminal.planned(1000);
        terminal.moved(1000);
        terminal.finished();
        assertThat(screen.toString(StandardCharsets.UTF_8)).startsWith("\r[" + "#".repeat(24) + "] written 1000B of 1000B").endsWith("\n");

        ByteArrayOutputStream quiet = new ByteArrayOutputStream();
        ProgressDisplay nothing = new ProgressDisplay(new PrintStream(quiet, true, StandardCharsets.UTF_8), false, "copied");
        nothing.finished();
        assertThat(quiet.size()).as("nothing moved, nothing said").isZero();
    }
}
