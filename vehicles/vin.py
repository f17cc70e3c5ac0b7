"""Vehicle identification numbers: normalise what people write and say, check, and decode.

Callers read VINs aloud and speech-to-text writes down what it heard: "one H G C, m as in mike,
eight, double two, oh, ..." Staff paste VINs with dashes and spaces. ``normalize_vin`` turns
all of these into the canonical 17-character VIN, or raises ``InvalidVIN`` with a sentence the
agent can read back to the caller.

Spoken forms are handled word by word:

- NATO alphabet words stand for their letter; "<letter> as in <word>" and "<letter> for <word>"
  keep the letter and drop the example word.
- Digit words, "oh" (always zero in a VIN, which never holds the letter O), "niner", teens and
  tens ("twenty one" is 21), and "double"/"triple" repeating the next symbol.
- Filler words ("my VIN is", "uh", "letter", "number") are dropped.
- Anything else made of letters and digits is taken character by character.

The check digit policy goes by where the VIN says the vehicle was made for:

- North America (the United States, Canada, Mexico) and China require the position-9 check
  digit of ISO 3779 / 49 CFR 565 (and GB 16735): a VIN from there whose digit does not compute
  is refused, so a misheard character is caught.
- Elsewhere (Europe, Japan and Korea for their home markets, ...) position 9 is the maker's to
  use: a VIN whose digit does not compute is accepted, and ``decode_vin`` says the check digit
  is not applicable, so the agent reads the VIN back in groups and has it confirmed.

The model year (position 10) follows the 30-year cycle of 49 CFR 565, position 7 telling which
cycle. It is decoded where position 10 is required to mean the year (the same regions), and for
a VIN from elsewhere whose check digit computes: such a VIN was made to the North American
standard (a Japanese or German car exported there), which puts the year at position 10. For
the others it is left unknown.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

VIN_LENGTH = 17
VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"

# 49 CFR 565.15: transliteration of letters and the weight of each position.
TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
CHECK_DIGIT_POSITION = 8  # zero-based index of position 9

FORBIDDEN_LETTERS = {
    "I": "did you mean one?",
    "O": "did you mean zero?",
    "Q": "did you mean zero?",
}

NATO = {
    "alpha": "A",
    "alfa": "A",
    "bravo": "B",
    "charlie": "C",
    "delta": "D",
    "echo": "E",
    "foxtrot": "F",
    "golf": "G",
    "hotel": "H",
    "india": "I",
    "juliet": "J",
    "juliett": "J",
    "kilo": "K",
    "lima": "L",
    "mike": "M",
    "november": "N",
    "oscar": "O",
    "papa": "P",
    "quebec": "Q",
    "romeo": "R",
    "sierra": "S",
    "tango": "T",
    "uniform": "U",
    "victor": "V",
    "whiskey": "W",
    "whisky": "W",
    "xray": "X",
    "yankee": "Y",
    "zulu": "Z",
}

DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "niner": "9",
}
TEEN_WORDS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
TENS_WORDS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
REPEAT_WORDS = {"double": 2, "triple": 3}
FILLER_WORDS = {
    "the",
    "vin",
    "is",
    "its",
    "it's",
    "my",
    "number",
    "uh",
    "um",
    "er",
    "erm",
    "and",
    "letter",
    "digit",
    "capital",
    "okay",
    "ok",
    "so",
    "then",
}

# Separators people and speech-to-text put between characters.
SEPARATORS = re.compile(r"[\s\-\u2010-\u2015.,;:/\\_|()\"]+")


class InvalidVIN(ValueError):
    """A VIN that cannot be right; the message can be read out to the caller as it is."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("x-ray", "xray").replace("x ray", "xray")
    text = text.replace("\u2019", "'")
    return [word for word in SEPARATORS.split(text) if word]


def _example_word_length(letter: str, rest: list[str]) -> int:
    """How many words after a spoken letter only illustrate it ("as in x-ray", "for mike")."""
    if rest[:2] == ["as", "in"] and len(rest) > 2:
        return 3
    # "b for bravo" illustrates; "b for five" is speech-to-text writing "four".
    if rest[:1] == ["for"] and len(rest) > 1 and (rest[1][0] == letter or rest[1] in NATO):
        return 2
    return 0


def _tens(word: str, rest: list[str]) -> tuple[str, int]:
    """ "twenty" is 20, "twenty one" is 21: the symbols and how many extra words were used."""
    following = DIGIT_WORDS.get(rest[0], "0") if rest else "0"
    if following != "0":
        return TENS_WORDS[word] + following, 1
    return TENS_WORDS[word] + "0", 0


def _characters(text: str) -> str:
    """Turn written or spoken text into the sequence of characters it spells."""
    words = _words(text)
    out: list[str] = []
    repeat = 1
    index = 0
    while index < len(words):
        word, rest = words[index], words[index + 1 :]
        index += 1
        if word in FILLER_WORDS:
            continue
        if word in REPEAT_WORDS:
            repeat = REPEAT_WORDS[word]
            continue
        if len(word) == 1 and word.isalpha():
            symbol = word.upper()
            index += _example_word_length(word, rest)
        elif word in TENS_WORDS:
            symbol, used = _tens(word, rest)
            index += used
        elif word == "for":
            symbol = "4"
        else:
            spoken = NATO.get(word) or DIGIT_WORDS.get(word) or TEEN_WORDS.get(word)
            symbol = spoken or word.upper()
        # "double five" repeats the first symbol of what follows.
        out.append(symbol[0] * repeat + symbol[1:])
        repeat = 1
    return "".join(out)


def _check_characters(candidate: str) -> None:
    if not candidate:
        raise InvalidVIN("I didn't catch a VIN. Please read the 17 characters.", "empty")
    for char in candidate:
        if char in FORBIDDEN_LETTERS:
            raise InvalidVIN(
                f"A VIN never contains the letter {char}; {FORBIDDEN_LETTERS[char]}",
                "forbidden_letter",
            )
    for char in candidate:
        if char not in VIN_ALPHABET:
            shown = char if char.isprintable() and not char.isspace() else repr(char)
            raise InvalidVIN(
                f"A VIN holds only letters and digits; {shown!s} cannot be part of one.",
                "bad_character",
            )
    if len(candidate) != VIN_LENGTH:
        raise InvalidVIN(
            f"That VIN has {len(candidate)} characters; a VIN has exactly {VIN_LENGTH}.",
            "length",
        )


def compute_check_digit(vin: str) -> str:
    """The check digit (position 9) for a 17-character VIN; position 9 itself is ignored."""
    vin = vin.upper()
    if len(vin) != VIN_LENGTH or any(char not in VIN_ALPHABET for char in vin):
        raise InvalidVIN("A check digit needs 17 VIN characters.", "length")
    total = sum(TRANSLITERATION[char] * weight for char, weight in zip(vin, WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def with_check_digit(vin: str) -> str:
    """``vin`` with the correct check digit written into position 9."""
    vin = vin.upper()
    digit = compute_check_digit(vin)
    return vin[:CHECK_DIGIT_POSITION] + digit + vin[CHECK_DIGIT_POSITION + 1 :]


# Where the check digit (and the model year at position 10) are mandatory: the countries the
# first characters name (see COUNTRIES below).
CHECK_DIGIT_COUNTRIES = {"United States", "Canada", "Mexico", "China"}


def check_digit_required(vin: str) -> bool:
    """Whether the region ``vin`` was made for requires the position-9 check digit."""
    return _country(vin) in CHECK_DIGIT_COUNTRIES


def check_digit_computes(vin: str) -> bool:
    return vin[CHECK_DIGIT_POSITION] == compute_check_digit(vin)


def normalize_vin(text: str) -> str:
    """The canonical 17-character VIN that ``text`` writes or speaks, or ``InvalidVIN``.

    The check digit is enforced only where it is mandatory (``check_digit_required``)."""
    if not isinstance(text, str):
        raise InvalidVIN("I didn't catch a VIN. Please read the 17 characters.", "empty")
    candidate = _characters(text)
    _check_characters(candidate)
    expected = compute_check_digit(candidate)
    heard = candidate[CHECK_DIGIT_POSITION]
    if heard != expected and check_digit_required(candidate):
        raise InvalidVIN(
            f"The check digit doesn't match: position 9 should be {expected}, not {heard}. "
            "Please read the VIN again.",
            "check_digit",
        )
    return candidate


def is_valid_vin(text: str) -> bool:
    """Whether ``text`` normalises to a valid VIN."""
    try:
        normalize_vin(text)
    except InvalidVIN:
        return False
    return True


# --- Decoding --------------------------------------------------------------------------------

YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # 1980 + index, repeating every 30 years

WMI_MANUFACTURERS = {
    **dict.fromkeys(["1HG", "2HG", "JHM", "5FN", "19X", "SHH", "5J6", "7FA"], "Honda"),
    **dict.fromkeys(["19U", "JH4", "5J8"], "Acura"),
    **dict.fromkeys(
        ["4T1", "4T3", "4T4", "5TD", "5TF", "5TB", "JTD", "JTE", "JTM", "JTN", "JTK", "2T1", "2T3"],
        "Toyota",
    ),
    **dict.fromkeys(["JTH", "JTJ", "2T2", "58A"], "Lexus"),
    **dict.fromkeys(["1FA", "1FB", "1FC", "1FD", "1FM", "1FT", "1ZV", "2FM", "3FA", "3FM"], "Ford"),
    **dict.fromkeys(["WF0", "NM0"], "Ford"),
    **dict.fromkeys(["1LN", "5LM", "2LM"], "Lincoln"),
    **dict.fromkeys(["1G1", "1GC", "1GN", "2G1", "3G1", "3GN", "3GC", "KL1"], "Chevrolet"),
    **dict.fromkeys(["1GT", "3GT", "1GK", "2GK"], "GMC"),
    **dict.fromkeys(["1G6", "1GY"], "Cadillac"),
    **dict.fromkeys(["1G4", "2G4", "KL4"], "Buick"),
    **dict.fromkeys(["1C3", "2C3", "2C4"], "Chrysler"),
    **dict.fromkeys(["1B3", "2B3", "1D7", "2D3", "3D7", "1B7", "2B4"], "Dodge"),
    **dict.fromkeys(["1J4", "1J8", "1C4"], "Jeep"),
    **dict.fromkeys(["1C6", "3C6", "3C7"], "Ram"),
    **dict.fromkeys(["1N4", "1N6", "JN1", "JN8", "3N1", "3N6", "5N1"], "Nissan"),
    **dict.fromkeys(["JNK", "JNR", "5N3"], "Infiniti"),
    **dict.fromkeys(["KMH", "5NP", "5NM", "KM8"], "Hyundai"),
    **dict.fromkeys(["KNA", "KND", "5XY", "3KP", "5XX"], "Kia"),
    **dict.fromkeys(["JF1", "JF2", "4S3", "4S4"], "Subaru"),
    **dict.fromkeys(["JM1", "JM3", "4F2", "3MZ"], "Mazda"),
    **dict.fromkeys(["JA3", "JA4", "4A3", "ML3"], "Mitsubishi"),
    **dict.fromkeys(["WVW", "WVG", "WV1", "WV2", "1VW", "3VW", "LSV", "LFV"], "Volkswagen"),
    **dict.fromkeys(["WAU", "WA1", "TRU"], "Audi"),
    **dict.fromkeys(["WBA", "WBS", "WBX", "WBY", "5UX", "4US", "5YM"], "BMW"),
    "WMW": "MINI",
    **dict.fromkeys(["WDB", "WDD", "WDC", "4JG", "W1K", "W1N", "55S"], "Mercedes-Benz"),
    **dict.fromkeys(["WP0", "WP1"], "Porsche"),
    **dict.fromkeys(["YV1", "YV4", "7JR"], "Volvo"),
    **dict.fromkeys(["5YJ", "7SA", "LRW", "XP7"], "Tesla"),
    "7FC": "Rivian",
    "SAL": "Land Rover",
    "SAJ": "Jaguar",
    "ZFA": "Fiat",
    "ZAR": "Alfa Romeo",
    "ZFF": "Ferrari",
    "ZHW": "Lamborghini",
    "ZAM": "Maserati",
    "VF1": "Renault",
    "VF3": "Peugeot",
    "VF7": "Citroën",
    "TMB": "Škoda",
    "VSS": "SEAT",
    "YS3": "Saab",
    **dict.fromkeys(["LPS", "YSM"], "Polestar"),
    "SCC": "Lotus",
    "SCF": "Aston Martin",
    "SCB": "Bentley",
    "SCA": "Rolls-Royce",
    # Europe
    **dict.fromkeys(["W0L", "W0V", "VXK"], "Opel"),
    **dict.fromkeys(["VR3", "VF3"], "Peugeot"),
    **dict.fromkeys(["VR7", "VF7"], "Citroën"),
    "VR1": "DS",
    "VNK": "Toyota",
    "SB1": "Toyota",
    "SJN": "Nissan",
    "VSK": "Nissan",
    "UU1": "Dacia",
    "WME": "smart",
    "WUA": "Audi",
    "TMA": "Hyundai",
    "U5Y": "Kia",
    "ZCF": "Iveco",
    "YS2": "Scania",
    "WMA": "MAN",
    "SAR": "Rover",
    "SAT": "Triumph",
    "ZDM": "Ducati",
    "ZLA": "Lancia",
    "ZFC": "Fiat",
    "VF6": "Renault Trucks",
    "VF8": "Matra",
    # Asia (home and export markets)
    "JMZ": "Mazda",
    "JMB": "Mitsubishi",
    **dict.fromkeys(["JSA", "JS2", "JS3", "MA3", "TSM"], "Suzuki"),
    "JDA": "Daihatsu",
    "JYA": "Yamaha",
    "MAJ": "Ford",
    "MAL": "Hyundai",
    "MAT": "Tata",
    "MA1": "Mahindra",
    "KPT": "SsangYong",
    "KL8": "Chevrolet",
    "LBV": "BMW",
    "LDC": "Dongfeng",
    "LGW": "Great Wall",
    "LVS": "Ford",
    "LSG": "General Motors",
    "LYV": "Volvo",
    "LHG": "Honda",
    "LVG": "Toyota",
    "LSJ": "MG",
    "LNB": "BAIC",
    **dict.fromkeys(["LC0", "LGX"], "BYD"),
    "LB3": "Geely",
    "LVV": "Chery",
    "LE4": "Mercedes-Benz",
}

# When the three-character WMI is not listed, these two-character prefixes still tell the maker.
WMI_PREFIX_MANUFACTURERS = {
    "JH": "Honda",
    "JT": "Toyota",
    "JN": "Nissan",
    "JF": "Subaru",
    "JM": "Mazda",
    "WB": "BMW",
    "WD": "Mercedes-Benz",
    "WV": "Volkswagen",
    "WP": "Porsche",
    "YV": "Volvo",
    "KM": "Hyundai",
    "KN": "Kia",
}

REGIONS = [
    ("12345", "North America"),
    ("67", "Oceania"),
    ("89", "South America"),
    ("ABCDEFGH", "Africa"),
    ("JKLMNPR", "Asia"),
    ("STUVWXYZ", "Europe"),
]

# (first character, range of second characters, country). First match wins.
COUNTRIES = [
    ("1", "", "United States"),
    ("4", "", "United States"),
    ("5", "", "United States"),
    ("2", "", "Canada"),
    ("3", "ABCDEFGHJKLMNPRSTUVW", "Mexico"),
    ("6", "ABCDEFGHJKLMNPRSTUVW", "Australia"),
    ("7", "ABCDE", "New Zealand"),
    ("7", "", "United States"),
    ("9", "ABCDE", "Brazil"),
    ("8", "ABCDE", "Argentina"),
    ("J", "", "Japan"),
    ("K", "LMNPR", "South Korea"),
    ("L", "", "China"),
    ("M", "ABCDE", "India"),
    ("M", "LMNPR", "Thailand"),
    ("N", "LMNPR", "Turkey"),
    ("S", "ABCDEFGHJKLM", "United Kingdom"),
    ("T", "MNP", "Czech Republic"),
    ("T", "RSTUV", "Hungary"),
    ("V", "FGHJKLMNPR", "France"),
    ("V", "STUVW", "Spain"),
    ("W", "", "Germany"),
    ("X", "L", "Netherlands"),
    ("X", "P", "Russia"),
    ("Y", "STUVW", "Sweden"),
    ("Y", "M", "Sweden"),
    ("Y", "ABCDE", "Belgium"),
    ("Y", "FGHJK", "Finland"),
    ("Z", "ABCDEFGHJKLMNPR", "Italy"),
]


@dataclass(frozen=True)
class VinInfo:
    """What a VIN says about its vehicle."""

    vin: str
    wmi: str
    vds: str
    check_digit: str
    vis: str
    region: str | None
    country: str | None
    manufacturer: str | None
    model_year: int | None
    model_year_candidates: tuple[int, ...]
    plant_code: str
    serial_number: str
    # "valid" (computes; where it is required it always does) or "not applicable" (a region
    # where position 9 is the maker's: nothing confirms the VIN but the caller).
    check_digit_status: str = "valid"

    @property
    def confirmed_by_check_digit(self) -> bool:
        return self.check_digit_status == "valid"

    def describe(self) -> str:
        """A short phrase the agent can read back, like "2003 Honda (United States)"; it says
        when the model year is not in the VIN and when no check digit confirms it."""
        parts = [str(self.model_year) if self.model_year else "", self.manufacturer or "vehicle"]
        text = " ".join(part for part in parts if part)
        where = self.country or self.region
        text = f"{text} ({where})" if where else text
        notes = []
        if not self.model_year_candidates:
            notes.append("model year not encoded")
        if not self.confirmed_by_check_digit:
            notes.append("check digit not applicable")
        return f"{text}; {', '.join(notes)}" if notes else text


def _region(vin: str) -> str | None:
    return next((name for chars, name in REGIONS if vin[0] in chars), None)


def _country(vin: str) -> str | None:
    for first, seconds, name in COUNTRIES:
        if vin[0] == first and (not seconds or vin[1] in seconds):
            return name
    return None


def _manufacturer(vin: str) -> str | None:
    return WMI_MANUFACTURERS.get(vin[:3]) or WMI_PREFIX_MANUFACTURERS.get(vin[:2])


def model_year_candidates(code: str) -> tuple[int, ...]:
    """Every model year from 1980 to 2039 that the position-10 code can mean."""
    if code not in YEAR_CODES:
        return ()
    first = 1980 + YEAR_CODES.index(code)
    return (first, first + 30)


def _model_year(vin: str) -> tuple[int | None, tuple[int, ...]]:
    candidates = model_year_candidates(vin[9])
    if not candidates:
        return None, ()
    # 49 CFR 565.15: a digit at position 7 means the 1980-2009 cycle, a letter 2010-2039.
    return (candidates[0] if vin[6].isdigit() else candidates[1]), candidates


def decode_vin(vin: str) -> VinInfo:
    """Decode a VIN (normalised first, so ``InvalidVIN`` for anything that is not one). The
    model year is decoded only for VINs made to the North American standard (see above)."""
    vin = normalize_vin(vin)
    computes = check_digit_computes(vin)
    standard = computes or check_digit_required(vin)
    model_year, candidates = _model_year(vin) if standard else (None, ())
    return VinInfo(
        vin=vin,
        wmi=vin[:3],
        vds=vin[3:9],
        check_digit=vin[8],
        vis=vin[9:],
        region=_region(vin),
        country=_country(vin),
        manufacturer=_manufacturer(vin),
        model_year=model_year,
        model_year_candidates=candidates,
        plant_code=vin[10],
        serial_number=vin[11:],
        check_digit_status="valid" if computes else "not applicable",
    )


# --- What a record says against its VIN -----------------------------------------------------

# Names people use for a maker, as the maker table spells it.
MAKE_ALIASES = {
    "vw": "volkswagen",
    "chevy": "chevrolet",
    "mercedes": "mercedesbenz",
    "benz": "mercedesbenz",
    "merc": "mercedesbenz",
    "rangerover": "landrover",
    "alfa": "alfaromeo",
    "gm": "generalmotors",
}


def _make_key(make: str) -> str:
    key = "".join(char for char in make.casefold() if char.isalnum())
    return MAKE_ALIASES.get(key, key)


def disagreements(vin: str, make: str, year: int | None) -> list[str]:
    """Sentences for what ``make`` and ``year`` say against what ``vin`` says, empty when they
    agree. A maker the table does not know, or a year the VIN does not encode, contradicts
    nothing: the tables are not complete, so the caller or the user decides."""
    try:
        info = decode_vin(vin)
    except InvalidVIN:
        return []
    found = []
    if info.manufacturer and make and _make_key(make) != _make_key(info.manufacturer):
        found.append(f"The VIN says the maker is {info.manufacturer}, not {make}.")
    if info.model_year_candidates and year and year not in info.model_year_candidates:
        others = " or ".join(str(y) for y in info.model_year_candidates)
        found.append(f"The VIN says the model year is {info.model_year} ({others}), not {year}.")
    return found


def spoken_groups(vin: str) -> str:
    """The VIN in the three groups it is read back in: maker, vehicle, serial."""
    return ", ".join(" ".join(part) for part in (vin[:3], vin[3:9], vin[9:]))
