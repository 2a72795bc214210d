"""Carrier error codes in words a business owner understands (shown in the thread and the calls page)."""

PLAIN = {
    "21610": "The recipient has opted out (replied STOP). They must reply START before we can text them.",
    "21211": "This is not a valid phone number.",
    "21612": "This number cannot receive texts from us (not reachable by SMS).",
    "21614": "This number cannot receive texts (it is probably a landline).",
    "21608": "Your Twilio trial account can only text verified numbers.",
    "20429": "The carrier is busy; we retried but it did not accept the message in time.",
    "30001": "The carrier's queue was full; we retried but could not send.",
    "30003": "The phone is off or out of coverage.",
    "30004": "The recipient's carrier blocked the message.",
    "30005": "The number does not exist or is no longer in service.",
    "30006": "This is a landline or the carrier cannot deliver texts to it.",
    "30007": "The carrier filtered the message as spam. Do not resend the same text.",
    "30008": "The carrier reported an unknown delivery error.",
    "30034": "Your number is not registered for business texting (A2P 10DLC). Register it to send texts.",
    "no_credentials": "No carrier account is connected for this number.",
    "opted_out": "Recipient opted out; not sent.",
    "bad_creds": "The stored carrier token cannot be read (was the encryption key changed?). Re-enter it.",
    "exhausted": "The carrier kept refusing for now; we stopped retrying.",
    "timeout": "The carrier did not confirm whether it took this message; we are checking instead of resending.",
    "connection_lost": "The connection to the carrier broke mid-send; we are checking instead of resending.",
    "unconfirmed": "The carrier never confirmed this message, so it was not resent. Check with the caller.",
}


def plain_error(code: str, fallback: str = "") -> str:
    return PLAIN.get(code, fallback or f"The carrier refused the message (error {code}).")[:300]
