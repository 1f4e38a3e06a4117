package dev.cairn.http;

/** Client-sent text as error messages quote it: cut short, so a 4 KiB path cannot make a 4 KiB message. */
final class ClientText {
    private static final int MAX = 80;

    private ClientText() {
    }

    static String shortened(String text) {
        return text.length() <= MAX ? text : text.substring(0, MAX) + "...";
    }
}
