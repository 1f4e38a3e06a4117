package dev.cairn.values;

/**
 * Client-sent text as refusals quote it: cut short, so a 4 KiB path, digest or upload id cannot make a 4 KiB
 * message (or log line). The one place every refusal shortens what it quotes.
 */
public final class ClientText {
    private static final int MAX = 80;

    private ClientText() {
    }

    /** The text, or its first 80 characters and "..."; "(none)" for a missing one. */
    public static String shortened(String text) {
        if (text == null) return "(none)";
        return text.length() <= MAX ? text : text.substring(0, MAX) + "...";
    }
}
