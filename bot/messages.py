"""Every fixed string a reply can contain: the only words the bot says that it did not quote.

The bot never writes its own prose about the news. A reply is made of verbatim slices of the
articles (quotes, headlines, file names, taken from the engine's `Answer`) and of the constants
below, so this module is the whole of what the bot can say in its own words. The terminal
renderer (`bot.render`) and the Discord one (`bot.discord.payload`, the cogs and views) both take
their words from here; a template's `{fields}` are filled with quoted or counted values only.
"""

from __future__ import annotations

# --- instead of quotes: said by every front end ---------------------------------------------------
DECLINE = "No article in the index answers that."
EMPTY_QUESTION = "Ask a question about the articles."
NO_INDEX = "The index holds no articles yet."
_NO_ANSWER = {"declined": DECLINE, "empty": EMPTY_QUESTION, "no-index": NO_INDEX}


def no_answer(reason: str | None, language: str = "en") -> str:
    """What is said instead of quotes for an `Answer.reason`; a plain decline for any other reason."""
    return localise(_NO_ANSWER.get(reason or "declined", DECLINE), language)


# --- citations: the same words in the terminal and on Discord ---------------------------------------
CITED_ARTICLE = "{title} ({source}, paragraph {paragraph})"
CITED_SEPARATOR = "; "

# --- the terminal (`python -m bot ask`, `sources`) ---------------------------------------------------
TERMINAL_QUOTE = "{number}. “{text}”"
TERMINAL_QUOTE_SOURCE = "   — {cited}"
TERMINAL_ALSO_IN = "   also in: {items}"
TERMINAL_SOURCES = "{articles} articles, {passages} passages; built {built_at} with {model} ({index_kind} index)"
TERMINAL_SOURCES_ITEM = "- {title} ({source}, {passages} passages, indexed {indexed_at})"
TERMINAL_SOURCES_STALE = "The seeds folder has changed since this index was built: run `python -m bot index`."
TERMINAL_SOURCES_OTHER = (
    "Questions in other languages: {articles} articles, {passages} passages; built {built_at} with {model}"
)
TERMINAL_SOURCES_OTHER_MISSING = (
    "Questions in other languages: their index ({model}) is not built yet: run `python -m bot index`."
)

# --- Discord: short notices ----------------------------------------------------------------------------
BUSY = "I'm answering a lot of questions right now. Please ask again in a moment."
COOLDOWN = "Please wait {seconds} s before asking again."
NO_PERMISSION = "You don't have permission to use this command."
GUILD_ONLY = "This command only works in a server."
ERROR = "Something went wrong on my side. Error id: {error_id}."

# --- Discord: /reindex ---------------------------------------------------------------------------------
REINDEX_RUNNING = "A reindex is already running. Please wait for it to finish."
REINDEX_STARTING = "Reindexing…"
REINDEX_PROGRESS = "Reindexing… {stage}: {done}/{total}"
REINDEX_TITLE = "Reindex finished"
REINDEX_ADDED = "Added"
REINDEX_REMOVED = "Removed"
REINDEX_CHANGED = "Changed"
REINDEX_SKIPPED = "Skipped"
REINDEX_NONE = "none"
REINDEX_PASSAGES = "Passages"
REINDEX_PASSAGES_VALUE = "{before} → {after} ({embedded} embedded, {unchanged} articles unchanged)"
REINDEX_SECONDS = "Took {seconds:.1f} s"
# sent with the report as a DM (or in the channel) when the rebuild outlasted the interaction's 15 minutes
REINDEX_LATE_REPORT = "Your /reindex finished after its reply could no longer be edited; here is its report."
SKIPPED_ITEM = "{source}: {reason}"
LIST_MORE = "… and {count} more"

# --- Discord: an answer ----------------------------------------------------------------------------------
ANSWER_TITLE = "From the articles"
ANSWER_FOOTER = "Verbatim quotes from the indexed articles."
QUOTE_HEADING = "{number}. {title}"
CITATION = "— {source}, paragraph {paragraph}"
ALSO_IN = "Also in: {items}"
ALSO_IN_MORE = " and {count} more"
ALSO_IN_COUNT = "Also in {count} other articles."
ELLIPSIS = " …"  # marks a quote shortened to fit; what precedes it is a prefix of the exact slice

# --- Discord: /sources and its pager --------------------------------------------------------------------
SOURCES_TITLE = "Indexed articles"
SOURCES_SUMMARY = (
    "{articles} articles, {passages} passages. Model {model} ({dimension} dimensions, {index_kind} index), "
    "built {built_at}."
)
SOURCES_STALE = "The seeds folder has changed since this index was built; /reindex brings it up to date."
SOURCES_OTHER = "Questions in other languages: {articles} articles, {passages} passages. Model {model}, built {built_at}."
SOURCES_EMPTY = "No articles are indexed."
SOURCES_ITEM = "{source} · {passages} passages · indexed {indexed_at}"
SOURCES_UNTITLED = "\u2014"  # an article with no headline still needs a field name
SOURCES_PAGE = "Page {page} of {pages}"
NOT_YOUR_BUTTONS = "Only the person who ran /sources can turn these pages."
PAGE_PREVIOUS = "Previous"
PAGE_NEXT = "Next"

# --- Discord: citations with who published what when (issue 14) ---------------------------------------
CITATION_PUBLISHED = "— {publisher} · {source}, paragraph {paragraph}"
PUBLISHER_OUTLET_DATE = "{outlet}, {published}"
PUBLISHER_LINK = "[{publisher}]({url})"
PUBLISHER_ARTICLE = "article"  # the link text when an article has a URL but neither outlet nor date
ANSWER_FOOTER_NEWEST = "Verbatim quotes from the indexed articles · articles up to {newest}"

# --- Discord: buttons under an answer ---------------------------------------------------------------------
BUTTON_MORE = "More quotes"
BUTTON_PARAGRAPH = "Full paragraph {number}"
BUTTON_ARTICLE = "Article {number}"
BUTTON_SHARE = "Share to channel"
NO_MORE_QUOTES = "There are no more quotes for that question."
ANSWER_GONE = "That answer is too old for its buttons now. Please ask again."
PARAGRAPH_GONE = "That article has changed or left the index since this answer."
PARAGRAPH_TITLE = "{title}"
PARAGRAPH_CITATION = "— {source}, paragraph {paragraph}"
SHARED_BY = "Shared by {user}"

# --- Discord: threads, channels and articles ------------------------------------------------------------
THREAD_NAME = "{question}"
THREAD_STARTER = "The quotes are in the thread on this message."
NOT_ANSWERING_HERE = "I don't answer questions in this channel."
ASK_IN_CHANNELS = "I don't answer questions in this channel. Ask in {channels}."
NO_SUCH_ARTICLE = "No indexed article matches that headline. Pick one from the list."
EMPTY_MESSAGE = "That message has no text to find sources for."

# --- Discord: /config -----------------------------------------------------------------------------------------
CONFIG_TITLE = "Configuration"
CONFIG_SERVER = "Server-wide"
CONFIG_CHANNEL = "In channel {channel}"
CONFIG_LINE = "{key}: {value}"
CONFIG_EFFECTIVE = "Here now"
CONFIG_DEFAULTS = "(defaults from the settings)"
CONFIG_SET = "{key} is now {value} {where}."
CONFIG_CLEARED = "{key} is back to the default {where}."
CONFIG_WHERE_SERVER = "server-wide"
CONFIG_WHERE_CHANNEL = "in {channel}"
CONFIG_BAD_VALUE = "{key} takes {expected}."
CONFIG_UNKNOWN_KEY = "Unknown setting {key}. Settings: {keys}."

# --- Discord: records, feedback and privacy (bot/discord/cogs/feedback.py, privacy.py) ---------------
NO_DATABASE = "This bot keeps no records here (no database is set up)."
DATABASE_ERROR = "The bot's records cannot be reached right now. Error id: {error_id}."
VOTE_UP = "\N{THUMBS UP SIGN}"
VOTE_DOWN = "\N{THUMBS DOWN SIGN}"
VOTE_RECORDED = "Thanks: your {vote} on this answer is recorded. Only you can see this."
VOTE_CHANGED = "Your vote on this answer is now {vote}. Only you can see this."
VOTE_SAME = "You already gave this answer a {vote}. Only you can see this."
VOTE_GONE = "This answer's record has been erased, so it takes no votes."
FORGET_CONFIRM = (
    "Erase every record of you: your questions, the quotes they got, your votes, and your id on "
    "article and setting changes? This cannot be undone."
)
FORGET_BUTTON = "Erase my records"
FORGET_DONE = "Done: {count} records erased or cleared. The bot's database holds nothing with your id."
CONFIRM = "Confirm"
CANCEL = "Cancel"
CANCELLED = "Cancelled: nothing was changed."
NOT_YOUR_CONFIRMATION = "Only the person who ran the command can answer this."

# --- Discord: /gaps -------------------------------------------------------------------------------------
GAPS_TITLE = "Declined or \N{THUMBS DOWN SIGN} questions, last {days} days"
GAPS_SUMMARY = "{questions} questions in {rows} groups, most frequent first."
GAPS_EMPTY = "No question was declined or got a \N{THUMBS DOWN SIGN} in the last {days} days."
GAPS_ROW_NAME = "{rank}. Asked {count} times"
GAPS_ROW_VALUE = "{example}\n{declined} declined · {downvoted} with \N{THUMBS DOWN SIGN} · last asked {last}"
NOT_YOUR_PAGES = "Only the person who ran the command can turn these pages."

# --- Discord: /stats -------------------------------------------------------------------------------------
STATS_TITLE = "Questions, last {days} days"
STATS_SUMMARY = (
    "{asked} questions: {answered} answered ({answered_share:.0%}), {declined} declined ({declined_share:.0%}).\n"
    "Feedback: {up} \N{THUMBS UP SIGN} · {down} \N{THUMBS DOWN SIGN}"
)
STATS_PER_DAY = "Per day"
STATS_DAY = "{day}: {asked} asked, {answered} answered, {declined} declined"
STATS_NO_QUESTIONS = "No questions in this period."
STATS_CHANNELS = "Busiest channels"
STATS_CHANNEL = "<#{channel_id}>: {count}"
CHART_ANSWERED = "answered"
CHART_DECLINED = "declined"
CHART_OTHER = "other"
CHART_QUESTIONS = "questions"

# --- Discord: /articles, and the changes /sources shows ----------------------------------------------------
ARTICLE_ADDED = "Saved {source} and re-indexed."
ARTICLE_REMOVE_CONFIRM = "Move {source} to the archive and re-index? /articles restore brings it back."
ARTICLE_REMOVED = "Moved {source} to the archive and re-indexed."
ARTICLE_RESTORED = "Restored {source} and re-indexed."
ARTICLE_REFUSED = "Refused {name}: {reason}. Nothing was changed."
ARTICLE_TOO_LARGE = "the file is {size:,} bytes, over the limit of {limit:,} bytes (MAX_FILE_BYTES)"
ARTICLE_DOWNLOAD_FAILED = "the attachment could not be downloaded from Discord"
SOURCES_CHANGES = "Latest changes"
SOURCES_CHANGE = "{when} · {action} {source} by {actor}"
SOURCES_CHANGE_ACTIONS = {"add": "added", "remove": "archived", "restore": "restored"}
SOURCES_CHANGE_ERASED = "a member who erased their records"

# --- the same words in the community's other languages ----------------------------------------------
# What a member reads in reply to their own question (a decline, "busy", a cooldown, an error, an
# answer's frame) comes in the question's language (`bot.language`); quotes stay verbatim, and
# what moderators and admins read stays in English. Keyed by the English template, gettext style,
# so a template without a translation is simply said in English; a translation keeps every
# `{field}` of its template (tests/test_localised_replies.py holds both to that).
TRANSLATIONS: dict[str, dict[str, str]] = {
    "ar": {
        DECLINE: "لا توجد مقالة في الفهرس تجيب عن ذلك.",
        EMPTY_QUESTION: "اطرح سؤالاً عن المقالات.",
        NO_INDEX: "لا يحتوي الفهرس على أي مقالات بعد.",
        BUSY: "أجيب عن أسئلة كثيرة الآن. يرجى السؤال مرة أخرى بعد قليل.",
        COOLDOWN: "يرجى الانتظار {seconds} ثانية قبل السؤال مرة أخرى.",
        ERROR: "حدث خطأ من جهتي. رقم الخطأ: {error_id}.",
        ANSWER_TITLE: "من المقالات",
        ANSWER_FOOTER: "اقتباسات حرفية من المقالات المفهرسة.",
        ANSWER_FOOTER_NEWEST: "اقتباسات حرفية من المقالات المفهرسة · مقالات حتى {newest}",
    },
    "fa": {
        DECLINE: "هیچ مقاله‌ای در نمایه به این پرسش پاسخ نمی‌دهد.",
        EMPTY_QUESTION: "پرسشی دربارهٔ مقاله‌ها بپرسید.",
        NO_INDEX: "نمایه هنوز هیچ مقاله‌ای ندارد.",
        BUSY: "الان به پرسش‌های زیادی پاسخ می‌دهم. لطفاً کمی بعد دوباره بپرسید.",
        COOLDOWN: "لطفاً پیش از پرسش دوباره {seconds} ثانیه صبر کنید.",
        ERROR: "خطایی از سمت من رخ داد. شناسهٔ خطا: {error_id}.",
        ANSWER_TITLE: "از مقاله‌ها",
        ANSWER_FOOTER: "نقل‌قول‌های عینی از مقاله‌های نمایه‌شده.",
        ANSWER_FOOTER_NEWEST: "نقل‌قول‌های عینی از مقاله‌های نمایه‌شده · مقاله‌ها تا {newest}",
    },
    "ckb": {
        DECLINE: "هیچ وتارێک لە پێڕستەکەدا وەڵامی ئەمە ناداتەوە.",
        EMPTY_QUESTION: "پرسیارێک دەربارەی وتارەکان بکە.",
        NO_INDEX: "پێڕستەکە هێشتا هیچ وتارێکی تێدا نییە.",
        BUSY: "ئێستا وەڵامی پرسیارێکی زۆر دەدەمەوە. تکایە کەمێکی تر دووبارە بپرسە.",
        COOLDOWN: "تکایە {seconds} چرکە چاوەڕێ بکە پێش ئەوەی دووبارە بپرسیت.",
        ERROR: "هەڵەیەک لە لای منەوە ڕوویدا. ناسنامەی هەڵە: {error_id}.",
        ANSWER_TITLE: "لە وتارەکانەوە",
        ANSWER_FOOTER: "وتەی وەک خۆی لە وتارە پێڕستکراوەکانەوە.",
        ANSWER_FOOTER_NEWEST: "وتەی وەک خۆی لە وتارە پێڕستکراوەکانەوە · وتارەکان تا {newest}",
    },
}


def localise(template: str, language: str) -> str:
    """`template` in `language` when it has a translation, else the English template itself."""
    return TRANSLATIONS.get(language, {}).get(template, template)
