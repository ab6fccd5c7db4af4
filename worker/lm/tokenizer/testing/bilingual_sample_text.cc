#include "worker/lm/tokenizer/testing/bilingual_sample_text.h"

namespace expsvc::lm::test_support {
namespace {

uint64_t NextRandom(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

const std::vector<std::string>& EnglishSentences() {
  static const auto* sentences = new std::vector<std::string>{
      "The package manager keeps track of every file installed on the system.",
      "Run the update command before installing new software.",
      "A shell reads commands from the keyboard and runs them one by one.",
      "Configuration files usually live under the /etc directory.",
      "The kernel talks to the hardware on behalf of every program.",
      "Backups are only useful if you have tested restoring them.",
      "Each user has a home directory for personal files and settings.",
      "Network interfaces can be configured by hand or by a daemon.",
      "The log files tell you what happened while you were away.",
      "Permissions decide who may read, write or execute a file.",
      "A symbolic link points to another file by its name.",
      "Compressing old archives saves a lot of disk space.",
      "The boot loader starts the kernel when the machine powers on.",
      "Time zones and locales change how dates and numbers look.",
      "Printing a file needs a working print server and a driver.",
      "Editors such as vim and emacs have many loyal users.",
      "Scripts automate tasks that you would otherwise repeat by hand.",
      "The firewall drops packets that match no allowed rule.",
      "Mounting a disk makes its files visible in the directory tree.",
      "Version 2.100 of the manual was released in February 2023.",
      "Regular expressions match patterns in lines of text.",
      "The system clock should be synchronised over the network.",
      "Fonts for many languages are packaged separately.",
      "An input method lets you type Japanese on an English keyboard.",
      "Good documentation explains why, not only how.",
      "Security updates should be applied as soon as they appear.",
      "Virtual machines let you test changes without risk.",
      "The terminal shows the output of each command you run.",
      "Old kernels can be removed once the new one boots fine.",
      "Processes that use too much memory may be killed.",
      "A mail server delivers messages between machines.",
      "Source packages contain everything needed to rebuild a program.",
      "Translation teams keep the manual available in many languages.",
      "Use the help option to list what a command accepts.",
      "Files whose names begin with a dot are hidden by default.",
      "The graphical desktop runs on top of a display server.",
      "Encrypting the disk protects data if the laptop is stolen.",
      "Keep a written record of every change you make to the server.",
      "Sound cards are detected automatically on most machines.",
      "Free software may be studied, changed and shared by anyone.",
  };
  return *sentences;
}

const std::vector<std::string>& JapaneseSentences() {
  static const auto* sentences = new std::vector<std::string>{
      "パッケージ管理システムはインストールされた全てのファイルを記録します。",
      "新しいソフトウェアを入れる前に更新コマンドを実行してください。",
      "シェルはキーボードからコマンドを読み、順番に実行します。",
      "設定ファイルは通常 /etc ディレクトリーの下にあります。",
      "カーネルは全てのプログラムに代わってハードウェアと通信します。",
      "バックアップは復元を試した場合にだけ役に立ちます。",
      "各ユーザーには個人のファイルと設定のためのホームディレクトリーがあります。",
      "ネットワークインターフェースは手動でもデーモンでも設定できます。",
      "ログファイルを見れば留守の間に何が起きたかがわかります。",
      "パーミッションは誰がファイルを読み書き実行できるかを決めます。",
      "シンボリックリンクは名前で別のファイルを指します。",
      "古いアーカイブを圧縮するとディスク容量を大きく節約できます。",
      "ブートローダーは電源が入るとカーネルを起動します。",
      "タイムゾーンとロケールで日付や数字の表示が変わります。",
      "ファイルを印刷するには動作するプリントサーバーとドライバーが必要です。",
      "vim や emacs のようなエディターには多くの熱心な利用者がいます。",
      "スクリプトを使えば手作業で繰り返す作業を自動化できます。",
      "ファイアウォールは許可された規則に合わないパケットを捨てます。",
      "ディスクをマウントするとそのファイルがディレクトリーツリーに見えます。",
      "この文書の第2.100版は2023年2月に公開されました。",
      "正規表現はテキストの行の中からパターンを探します。",
      "システムの時計はネットワーク経由で同期させるべきです。",
      "多くの言語のフォントは別々にパッケージ化されています。",
      "インプットメソッドを使うと英語キーボードで日本語を入力できます。",
      "良い文書はやり方だけでなく理由も説明します。",
      "セキュリティー更新は公開されたらすぐに適用しましょう。",
      "仮想マシンを使えば危険なしに変更を試せます。",
      "端末には実行した各コマンドの出力が表示されます。",
      "新しいカーネルで問題なく起動したら古いカーネルは削除できます。",
      "メモリーを使いすぎるプロセスは強制終了されることがあります。",
      "メールサーバーはマシン間でメッセージを配送します。",
      "ソースパッケージにはプログラムを再構築するための全てが含まれています。",
      "翻訳チームのおかげでこの文書は多くの言語で読めます。",
      "コマンドが受け付けるオプションはヘルプで一覧できます。",
      "名前がドットで始まるファイルは既定では隠されています。",
      "グラフィカルなデスクトップはディスプレーサーバーの上で動きます。",
      "ディスクを暗号化すればノートパソコンが盗まれてもデーターを守れます。",
      "サーバーに加えた変更は全て書き留めておきましょう。",
      "ほとんどのマシンでサウンドカードは自動的に検出されます。",
      "自由ソフトウェアは誰でも研究し、変更し、共有できます。",
  };
  return *sentences;
}

std::vector<std::string> BilingualTrainingLines(int count, uint64_t seed) {
  const std::vector<std::string>& english = EnglishSentences();
  const std::vector<std::string>& japanese = JapaneseSentences();
  uint64_t state = seed;
  std::vector<std::string> lines;
  lines.reserve(count);
  for (int i = 0; i < count; ++i) {
    const uint64_t kind = NextRandom(&state) % 5;  // 0-1 English, 2-3 Japanese, 4 mixed
    const int sentences = 1 + static_cast<int>(NextRandom(&state) % 3);
    std::string line;
    for (int s = 0; s < sentences; ++s) {
      const bool use_english = kind < 2 || (kind == 4 && s % 2 == 0);
      const std::vector<std::string>& pool = use_english ? english : japanese;
      if (!line.empty()) line += use_english ? " " : "";
      line += pool[NextRandom(&state) % pool.size()];
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<std::string> TrickyInputs() {
  return {
      "",
      " ",
      "   ",
      "a",
      " leading space",
      "trailing space ",
      "two  spaces   and three",
      "tab\tseparated\tvalues",
      "line one\nline two\n",
      "\n",
      "Debian 12 の apt コマンドで package を install します。",
      "日本語とEnglishが混ざった文です。",
      "全角スペース　を含む文",
      "emoji 😀 and 🎉 are not in the training text",
      "珍しい漢字: 鬱 龘 𠮷",
      "한국어 문장은 학습 데이터에 없습니다",
      "Ελληνικά και кириллица",
      "<s> looks special but is plain text </s>",
      "<0x41> looks like a byte piece",
      "<unk> <pad>",
      "▁already▁has▁meta▁symbols",
      "invalid \xff\xfe bytes",
      "truncated \xE6\xBC",
      "surrogate \xED\xA0\x80 bytes",
      "overlong \xC0\xAF slash",
      "control \x01\x02 characters",
      "NBSP\xC2\xA0"
      "between",
      "numbers 3.14159 and 2,718,281",
      "symbols ~!@#$%^&*()_+{}|:\"<>?",
      "ｶﾀｶﾅ 半角 ＡＢＣ 全角",
  };
}

bool ContainsSpecialTokenText(std::string_view text) {
  for (std::string_view special : {"<unk>", "<s>", "</s>", "<pad>"}) {
    if (text.find(special) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace expsvc::lm::test_support
