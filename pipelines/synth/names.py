"""Fictional name pools for the synthetic children: forenames with their short forms and other
spellings, surnames with theirs, by broad ethnic group (SSDA903 codes), so that the errors
real records have (a child recorded as Bill by one force and William by the council, Mohammed
by one and Muhammad by another) can be drawn. No real child's name is meant by any pairing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# One entry per name: "Name|short forms|other spellings" (comma-separated, either may be empty).
BOYS = {
    "WBRI": """William|Will,Bill,Billy|;Thomas|Tom,Tommy|;James|Jim,Jamie|;Joseph|Joe,Joey|;
        Daniel|Dan,Danny|;Matthew|Matt|Mathew;Oliver|Ollie|;Jack||;Harry||;Jacob|Jake|;
        Charlie||Charley;George||;Samuel|Sam|;Benjamin|Ben|;Christopher|Chris|Kristopher;
        Michael|Mike,Mikey|;Edward|Ed,Eddie,Ted|;Nathaniel|Nate|;Tyler||;Reece||Rhys,Reese;
        Dylan||Dillon;Callum||Calum;Connor||Conor;Jayden||Jaden,Jaiden;Mason||;Riley||Rylee;
        Lewis||Louis;Finley|Finn|Finlay;Joshua|Josh|;Nicholas|Nick,Nicky|Nicolas;
        Anthony|Tony|Antony;Alexander|Alex,Sandy|;Kai||Kye;Noah||;Leo||""",
    "WOTH": """Jakub|Kuba|Jacob;Kacper||Kasper;Szymon||Simon;Oskar||Oscar;Łukasz|Łukas|Lukasz;
        Andrei||Andrey,Andrej;Mihai||;Stefan||Ștefan;Aleksander|Olek|Aleksandr,Alexandru;
        Mateusz|Mati|;Filip||Philip;Dawid||David;Tomás|Tomi|Tomas;José|Pepe|Jose;Zoran||""",
    "AOTH": """Muhammad|Mo|Mohammed,Mohammad,Mohamed;Ibrahim||Ebrahim;Yusuf||Yousef,Youssef;
        Ali||;Omar||Umar;Hamza||Hamzah;Ahmed||Ahmad;Bilal||;Ayaan||Ayan;Zain||Zayn,Zayne;
        Abdullah||Abdulla;Hassan||Hasan;Imran||;Arjun||;Rohan||""",
    "BAFR": """Oluwaseun|Seun|;Chinedu|Nedu|;Kwame||;Tobiloba|Tobi|;Emmanuel|Manny|Emanuel;
        Samuel|Sam|;Daniel|Dan|;Kofi||;Adebayo|Bayo|;Tendai||;Jermaine||Germaine;
        Isaiah||Isaiyah;Elijah|Eli|""",
}
GIRLS = {
    "WBRI": """Elizabeth|Liz,Lizzie,Beth|Elisabeth;Katherine|Kate,Katie|Catherine,Kathryn;
        Rebecca|Becky,Becca|;Jessica|Jess,Jessie|;Olivia|Liv,Livvy|;Amelia|Millie|;
        Isabella|Bella,Izzy|Isobella;Charlotte|Lottie|;Victoria|Vicky,Tori|;
        Samantha|Sam,Sammy|;Abigail|Abby,Abi|;Alexandra|Alex,Lexi|;Zoë||Zoe;Chloé||Chloe;
        Amélie||Amelie;Ellie||Elly;Grace||;Lily||Lilly,Lillie;Ava||;Emily|Em,Emmy|Emilie;
        Sophie||Sophia,Sofia;Megan|Meg|Meghan;Chelsea||;Jade||;Leah||Lea;Paige||Page;
        Courtney||Kourtney;Shannon||;Kayleigh||Kayley,Kaylee,Kayla;Ruby||;Freya||;
        Poppy||;Evie||Evey;Daisy||;Niamh||;Siobhán||Siobhan;Aoife||Eefa;Renée||Renee""",
    "WOTH": """Natalia|Nata|Natalie;Zuzanna|Zuzia|Susanna;Maja||Maya;Oliwia||Olivia;
        Wiktoria|Wika|Victoria;Julia||Yulia;Alexandra|Ola,Sasha|Aleksandra;Ioana||Joana;
        Andreea||Andrea;Małgorzata|Gosia|Malgorzata;Agnieszka|Aga|""",
    "AOTH": """Fatima||Fatimah,Fatma;Aisha||Ayesha,Aysha,Aishah;Maryam||Mariam,Miriam;
        Zainab||Zaynab;Khadija||Khadijah;Noor||Nur;Hafsa||Hafsah;Amina||Aminah,Ameena;
        Sana||Sanaa;Priya||;Anaya||Ananya;Safiya||Safiyyah,Sofia;Iqra||;Halima||Halimah""",
    "BAFR": """Precious||;Chiamaka|Amaka|;Ayodele|Ayo|;Blessing||;Esther||;Abena||;
        Folasade|Sade|Folashade;Adaeze|Ada|;Chantelle||Shantelle;Tiana||Tianna;
        Nia||Nyah;Imani||;Deborah|Debbie,Debs|Debra""",
}
SURNAMES = {
    "WBRI": """Smith||Smyth;Jones||;Taylor||Tailor;Brown||Browne;Williams||;Wilson||;
        Johnson||Johnston;Davies||Davis;Robinson||;Wright||;Thompson||Thomson;Evans||;
        Walker||;White||;Roberts||;Green||Greene;Hall||;Wood||;Jackson||;Clarke||Clark;
        Lewis||;Harris||;Martin||;Cooper||;Hughes||;Edwards||;Turner||;Hill||;Moore||More;
        Scott||;Baker||;Harrison||;Morgan||;Young||;Allen||Allan;King||;Mitchell||;
        Phillips||Philips;Parker||;Bennett||Bennet;Ward||;Fox||;Webb||;Shaw||;Lloyd||Loyd;
        Ellis||;Price||;Rees||Reece;Mills||;O'Brien||OBrien,O Brien;O'Connor||OConnor;
        McDonald||MacDonald;Murphy||;Kelly||Kelley""",
    "WOTH": """Kowalski||Kowalska;Nowak||Novak;Wiśniewski||Wisniewski;Popescu||;
        Lewandowski||Lewandowska;Wójcik||Wojcik;Ionescu||;Dumitru||;Horvat||;
        Fernández||Fernandez;Müller||Muller,Mueller;Silva||Da Silva;Santos||""",
    "AOTH": """Khan||Kahn;Hussain||Hussein,Husain;Ahmed||Ahmad;Begum||;Ali||;
        Rahman||Rehman;Chowdhury||Choudhury,Chaudhry;Mohammed||Muhammad,Mohammad;
        Iqbal||;Shah||;Akhtar||Akhter;Patel||;Islam||;Mahmood||Mahmud;Uddin||Udin""",
    "BAFR": """Okafor||;Adeyemi||Adeymi;Mensah||;Osei||;Okoro||;Boateng||;Nwosu||;
        Adebayo||;Asante||;Mwangi||;Kamara||;Bangura||""",
}
# SSDA903 ethnicity codes for the groups above, and their shares among the children.
ETHNIC_CODES = ("WBRI", "WOTH", "AOTH", "BAFR")
ETHNIC_SHARES = (0.66, 0.12, 0.13, 0.09)


@dataclass(frozen=True)
class Pool:
    """Names of one kind: each name, its short forms and other spellings (as padded tables,
    so a variant of many names is drawn at once), its group, and for forenames whether a
    girl's name."""

    name: np.ndarray  # the name, one per entry
    short: np.ndarray  # (entries, most short forms): short forms (nicknames), padded
    short_count: np.ndarray
    spelling: np.ndarray  # (entries, most spellings): other spellings (transliterations)
    spelling_count: np.ndarray
    group: np.ndarray  # index into ETHNIC_CODES
    girl: np.ndarray

    def of(self, group: int, girl: bool | None = None) -> np.ndarray:
        """Indexes of the entries of one group (and sex, for forenames)."""
        return np.flatnonzero(
            (self.group == group) & ((self.girl == girl) if girl is not None else True)
        )

    def has(self, which: str, idx: np.ndarray) -> np.ndarray:
        """Whether each entry has a short form (which="short") or another spelling."""
        return getattr(self, f"{which}_count")[idx] > 0

    def variant(self, which: str, idx: np.ndarray, u: np.ndarray) -> np.ndarray:
        """For each entry (all with one), the short form or spelling picked by u in [0, 1)."""
        count = getattr(self, f"{which}_count")[idx]
        return getattr(self, which)[idx, (u * count).astype(np.int64)]


def _table(options: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(1, *(len(o) for o in options))
    table = np.full((len(options), width), None, object)
    for i, o in enumerate(options):
        table[i, : len(o)] = o
    return table, np.array([len(o) for o in options], np.int64)


def _parse(*tables: tuple[dict[str, str], bool]) -> Pool:
    """A pool from tables of `Name|short|spellings;...` strings by group."""
    name: list[str] = []
    short: list[tuple[str, ...]] = []
    spelling: list[tuple[str, ...]] = []
    group: list[int] = []
    girl: list[bool] = []
    for table, girls in tables:
        for g, code in enumerate(ETHNIC_CODES):
            for entry in table[code].split(";"):
                main, shorts, others = (part.strip() for part in entry.split("|"))
                name.append(main)
                short.append(tuple(s.strip() for s in shorts.split(",") if s.strip()))
                spelling.append(tuple(s.strip() for s in others.split(",") if s.strip()))
                group.append(g)
                girl.append(girls)
    return Pool(
        np.array(name, dtype=object),
        *_table(short),
        *_table(spelling),
        np.array(group, np.int8),
        np.array(girl, bool),
    )


FORENAMES = _parse((BOYS, False), (GIRLS, True))
SURNAME_POOL = _parse((SURNAMES, False))
