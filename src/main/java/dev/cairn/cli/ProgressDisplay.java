package dev.cairn.cli;

import dev.cairn.transfer.TransferMeter;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Progress of a long transfer on standard error: on a terminal one line redrawn in place (bytes, rate, ETA and a
 * bar when the total is known), elsewhere (a CI log) a plain line every few seconds, so logs stay readable.
 */
final class ProgressDisplay implements TransferMeter {
    private static final long LINE_EVERY_NANOS = 5_000_000_000L;
    private static final long REDRAW_EVERY_NANOS = 200_000_000L;
    private static final int BAR = 24;

    private final PrintStream out;
    private final boolean terminal;
    private final String verb;
    private final long started = System.nanoTime();
    private final AtomicLong moved = new AtomicLong();
    private volatile long planned = -1;
    private long lastShown;
    private boolean drawn;
    private int shownLength;

    ProgressDisplay(PrintStream out, boolean terminal, String verb) {
        this.out = out;
        this.terminal = terminal;
        this.verb = verb;
        this.lastShown = started;
    }

    /** On standard error, redrawn in place when it is a terminal. */
    static ProgressDisplay onStandardError(String verb) {
        return new ProgressDisplay(System.err, isTerminal(), verb);
    }

    /**
     * Whether standard error, where the progress goes, is a terminal. Java tells only of standard input and output
     * (System.console()); on Linux the descriptor's link names a terminal device. Anywhere else: plain lines.
     */
    private static boolean isTerminal() {
        try {
            String target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    @Override
    public synchronized void skipped(long bytes) {
        if (planned > 0) planned = Math.max(0, planned - bytes);
    }

    @Override
    public void planned(long bytes) {
        planned = bytes;
    }

    @Override
    public void moved(long bytes) {
        moved.addAndGet(bytes);
        long now = System.nanoTime();
        synchronized (this) {
            if (now - lastShown < (terminal ? REDRAW_EVERY_NANOS : LINE_EVERY_NANOS)) return;
            lastShown = now;
            show(now, false);
        }
    }

    @Override
    public synchronized void finished() {
        if (drawn || moved.get() > 0) show(System.nanoTime(), true);
    }

    private void show(long now, boolean last) {
        long done = moved.get();
        double seconds = Math.max(1e-3, (now - started) / 1e9);
        double rate = done / seconds;
        long total = planned;
        StringBuilder line = new StringBuilder(verb).append(' ').append(Reports.size(done));
        if (total > 0) {
            line.append(" of ").append(Reports.size(total));
            if (terminal) {
                int filled = (int) Math.min(BAR, BAR * done / total);
                line.insert(0, "[" + "#".repeat(filled) + ".".repeat(BAR - filled) + "] ");
            } else {
                line.append(String.format(Locale.ROOT, " (%d%%)", Math.min(100, 100 * done / total)));
            }
        }
        line.append(", ").append(Reports.size((long) rate)).append("/s");
        if (total > 0 && !last && rate > 0) line.append(", ETA ").append(eta((long) ((total - done) / rate)));
        if (last) line.append(String.format(Locale.ROOT, ", %.1f s", seconds));
        if (terminal) {
            // as long as the line before, so no end of a longer one stays on the screen
            out.print("\r" + line + " ".repeat(Math.max(0, shownLength - line.length())) + (last ? "\n" : ""));
            out.flush();
            shownLength = line.length();
        } else {
            out.println(line);
        }
        drawn = !last;
    }

    private static String eta(long seconds) {
        return seconds >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
                : String.format(Locale.ROOT, "%d:%02d", seconds / 60, seconds % 60);
    }
}
