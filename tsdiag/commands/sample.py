"""``tsdiag sample``: stories from a checkpoint, with their article rate against real TinyStories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, existing_paths, report_command


@report_command
def sample(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint (llama2.c, nanoGPT, HF Llama, or a tsdiag run folder).")],
    tokenizer: Annotated[Path, typer.Option("--tokenizer", "-t", help="The tokenizer the model was trained with.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Text every sample starts from.")] = "Once upon a time there was",
    n: Annotated[int, typer.Option("-n", "--num-samples", min=1, help="Number of samples.")] = 8,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Tokens generated per sample.")] = 200,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="Softmax temperature; 0 = greedy.")] = 0.8,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, help="Sample among the k most likely tokens.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (samples are reproducible).")] = 1337,
    n_heads: Annotated[Optional[int], typer.Option("--n-heads", min=1, help="Attention heads, if the checkpoint does not record them.")] = None,
    article_words: Annotated[str, typer.Option("--article-words", help="Comma-separated words counted as articles.")] = "a,an,the",
    reference_text: Annotated[Optional[Path], typer.Option("--reference-text", help="Text to compare with (e.g. your training stories); default: real TinyStories.")] = None,
    out: OutputOptions = None,
) -> None:
    """Generate stories and measure the symptom: articles per 100 words and samples with none,
    against real TinyStories text.

    Examples:

      tsdiag sample out/ckpt.pt --tokenizer tok512.model

      tsdiag sample runs/standard --tokenizer tok512.model -n 4 --temperature 0 --json

      tsdiag sample out/ckpt.pt --tokenizer tok512.model --reference-text data/stories.txt
    """
    from tsdiag.report import Report, Table
    from tsdiag.checks import sample as sample_check
    from tsdiag.sample import article_pattern, reference_from_text
    from tsdiag.sample_text import escape_controls

    existing_paths([checkpoint, tokenizer])
    words = tuple(w.strip() for w in article_words.split(",") if w.strip())
    if not words:
        from tsdiag.errors import InputError

        raise InputError("--article-words", "needs at least one word")
    reference = reference_from_text(reference_text, words) if reference_text else None
    check = sample_check.run(checkpoint, tokenizer, thresholds=out.thresholds(), prompt=prompt, n=n,
                             max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed,
                             n_heads=n_heads, article_words=words, reference=reference)
    facts = check.facts
    rate, rep, distinct = facts.rate, facts.repetition, facts.distinct
    identical = len(facts.samples) - len(distinct)
    shown = f"{len(facts.samples)} (prompt {facts.prompt!r}, temperature {temperature}, top-k {top_k}, seed {seed})"
    if identical:
        shown += (f"; {len(distinct)} distinct: identical samples are shown once"
                  + (" (greedy decoding repeats itself by design)" if temperature <= 0 else ""))
    summary = Table("Articles", ["", ""], [
        ["samples", shown],
        ["article words", f"{facts.article_words:,} of {facts.words:,} words"],
        ["per 100 words", f"{100 * rate:.2f}" if rate is not None else "-"],
        ["reference", f"{100 * facts.reference.value:.2f} per 100 words ({facts.reference.source})"],
        ["samples without an article", f"{facts.samples_without_article} of {len(facts.samples)}"],
        ["repeated 4-grams", "-" if rep.repeated_ngram_share is None else
         f"{100 * rep.repeated_ngram_share:.1f}% of word 4-grams (distinct samples, {rep.words:,} words)"],
        ["distinct-1 / distinct-2", "-" if rep.distinct_1 is None else
         f"{rep.distinct_1:.3f} / {rep.distinct_2 or 0:.3f}"],
        ["longest loop", (f"{rep.longest_loop_words} words of {escape_controls(rep.loop_unit)!r} (sample "
                          f"{rep.loop_sample}); " if rep.longest_loop_words else "")
         + f"{rep.longest_loop_chars} characters"],
    ])
    copies = {i: facts.samples.count(facts.samples[i]) for i in distinct}
    texts = Table("Samples", ["#", "text"],
                  [[str(i + 1) + (f" (x{copies[i]})" if copies[i] > 1 else ""),
                    escape_controls(facts.prompt + facts.samples[i])] for i in distinct],
                  highlight=article_pattern(words))
    data = {
        "checkpoint": facts.checkpoint, "tokenizer": facts.tokenizer, "prompt": facts.prompt,
        "settings": facts.settings, "samples": facts.samples, "words": facts.words,
        "article_words": facts.article_words, "article_rate_per_100_words": None if rate is None else 100 * rate,
        "reference_per_100_words": 100 * facts.reference.value, "reference_source": facts.reference.source,
        "samples_without_article": facts.samples_without_article,
        "distinct_samples": len(distinct), "repetition": rep.to_dict(),
    }
    report = Report("sample", f"tsdiag sample {checkpoint}", [summary, texts], check.findings, data)
    emit([report], out)
